"""The editor's live preview: the rule replayed over the last hour stored in a real SQLite file."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.alerts import AlertRule, RuleKind
from gpuwatch_desktop.storage import HistoryStore
from tests.ui.conftest import payload_snapshot
from tests.ui.test_alerts_support import Harness, run_alerts, until

HOT = AlertRule(id="hot", name="GPU too hot", metric="gpu_temp", threshold=85.0)
STEP_S = 30.0


def _temperature(gpu: int, age_s: float) -> float:
    """GPU 3 runs hot twice in the hour (40-30 and 15-10 minutes ago), GPU 5 once (20-18 min ago)."""
    minutes = age_s / 60
    if gpu == 3 and (30 <= minutes <= 40 or 10 <= minutes <= 15):
        return 90.0
    if gpu == 5 and 18 <= minutes <= 20:
        return 88.0
    return 60.0


def _store_an_hour(path: Path, now: float) -> None:
    with HistoryStore(path) as store:
        for step in range(int(3600 / STEP_S) - 1, -1, -1):
            age = step * STEP_S
            snapshot = payload_snapshot("node-a", now - age)
            gpus = tuple(replace(g, values={**g.values, "gpu_temp": _temperature(g.index, age),
                                            "fb_used": 78000.0 if g.index == 1 and age < 600 else 1000.0,
                                            "fb_free": 2000.0 if g.index == 1 and age < 600 else 79000.0})
                         for g in snapshot.gpus)
            store.write_round([replace(snapshot, gpus=gpus)])


async def _preview_of(h: Harness, rule: AlertRule | None) -> str:
    editor = h.view.open_editor(rule)
    if rule is None:
        editor.name_edit.setText("GPU too hot")
        editor.threshold_edit.setText("85")
    await until(lambda: editor.preview_label.text().endswith("."), timeout=10)
    text = editor.preview_label.text()
    editor.reject()
    return text


def test_preview_counts_firings_over_stored_history(qtbot: QtBot, tmp_path: Path) -> None:
    _store_an_hour(tmp_path / "history.sqlite3", time.time())

    async def scenario(h: Harness) -> None:
        assert await _preview_of(h, HOT) == "Would have fired 3 times on 2 GPUs in the last hour."
        only_gpu5 = replace(HOT, scope=replace(HOT.scope, gpu=5))
        assert await _preview_of(h, only_gpu5) == "Would have fired once on 1 GPU in the last hour."
        slow = replace(HOT, for_s=200.0)
        assert await _preview_of(h, slow) == "Would have fired twice on 1 GPU in the last hour.", \
            "GPU 5's 2 minutes never reach 'for'"
        memory = AlertRule(id="mem", name="Memory nearly full", metric="fb_used_pct", threshold=95.0)
        assert await _preview_of(h, memory) == "Would have fired once on 1 GPU in the last hour."
        down = AlertRule(id="down", name="Node down", kind=RuleKind.NODE_DOWN)
        assert "no preview" in await _preview_of(h, down)

    run_alerts(qtbot, tmp_path, [], scenario)


def test_preview_without_stored_history_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        assert await _preview_of(h, None) == "No stored history to replay yet."

    run_alerts(qtbot, tmp_path, [], scenario)
