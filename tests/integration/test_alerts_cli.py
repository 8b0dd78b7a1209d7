"""`gpuwatch alerts` as a user runs it, on a history file written by the real AlertStore."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    RuleKind,
    SeriesKey,
    Severity,
)
from gpuwatch_desktop.storage import HistoryStore

ROOT = Path(__file__).resolve().parents[2]
HOT = AlertRule("hot", "GPU too hot", metric="gpu_temp", threshold=85, severity=Severity.CRITICAL)
DOWN = AlertRule("down", "Node down", kind=RuleKind.NODE_DOWN)


def _gpuwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gpuwatch_desktop", "alerts", *args], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A history with one firing (acknowledged) and one pending alert and five events, 1 h to 10 min old."""
    now = time.time()
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        alerts = store.alerts()
        alerts.save_rules([HOT, DOWN])
        alerts.replace_active([
            ActiveAlert(SeriesKey("hot", "node-1", 3), "GPU too hot", AlertState.FIRING, Severity.CRITICAL,
                        since=now - 600, active_since=now - 660, value=91.5, summary="node-1 GPU 3 at 91.5 °C",
                        labels=(("team", "ml"),), acknowledged=True),
            ActiveAlert(SeriesKey("down", "node-2", None), "Node down", AlertState.PENDING, Severity.WARNING,
                        since=now - 30, active_since=now - 30, value=None, summary="node-2 is down", silenced=True),
        ])
        steps = [(3600, AlertState.PENDING, AlertState.INACTIVE), (3540, AlertState.FIRING, AlertState.PENDING),
                 (3000, AlertState.RESOLVED, AlertState.FIRING), (660, AlertState.PENDING, AlertState.INACTIVE),
                 (600, AlertState.FIRING, AlertState.PENDING)]
        alerts.record_events([
            AlertEvent(now - age, "hot", "GPU too hot", "node-1", 3, state, previous, Severity.CRITICAL,
                       80.0 if state is AlertState.RESOLVED else 91.5, f"hot {state.value}")
            for age, state, previous in steps
        ])
        alerts.record_events([AlertEvent(now - 2 * 86400, "down", "Node down", "node-2", None, AlertState.FIRING,
                                         AlertState.PENDING, Severity.WARNING, None, "two days old")])
    return tmp_path


def test_tables_show_active_alerts_and_the_last_day_of_events(data_dir: Path) -> None:
    result = _gpuwatch("--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Active alerts: 2"
    assert lines[1].split()[:4] == ["STATE", "SEVERITY", "RULE", "NODE/GPU"]
    firing, pending = lines[2], lines[3]
    assert firing.split()[:2] == ["firing", "critical"] and "node-1 GPU 3" in firing and "91.5 °C" in firing
    assert re.search(r"  10m 0\ds  ", firing) and "acked" in firing and firing.endswith("node-1 GPU 3 at 91.5 °C")
    assert pending.split()[:2] == ["pending", "warning"] and "silenced" in pending and "node-2 is down" in pending
    assert lines[5].startswith("Alert events since ") and lines[5].endswith(": 5 (newest first)")
    events = lines[7:]
    assert [e.split()[2:5] for e in events] == [
        ["pending", "->", "firing"], ["inactive", "->", "pending"], ["firing", "->", "resolved"],
        ["pending", "->", "firing"], ["inactive", "->", "pending"],
    ]
    assert "80 °C" in events[2] and "two days old" not in result.stdout


def test_json_has_active_alerts_and_events_and_limit_and_since_apply(data_dir: Path) -> None:
    result = _gpuwatch("--json", "--data-dir", str(data_dir), "--since", "3d", "--limit", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"active", "events"}
    firing, pending = data["active"]
    assert firing["fingerprint"] == "hot/node-1/3" and firing["state"] == "firing" and firing["value"] == 91.5
    assert firing["unit"] == "°C" and firing["labels"] == {"team": "ml"} and firing["acknowledged"] is True
    assert 599 <= firing["age_s"] < 700
    assert pending["gpu"] is None and pending["value"] is None and pending["silenced"] is True
    assert [(e["previous"], e["state"]) for e in data["events"]] == [
        ("pending", "firing"), ("inactive", "pending"), ("firing", "resolved")
    ]
    assert data["events"][2]["value"] == 80.0 and data["events"][0]["gpu"] == 3
    everything = json.loads(_gpuwatch("--json", "--data-dir", str(data_dir), "--since", "3d").stdout)
    assert everything["events"][-1]["summary"] == "two days old"


def test_the_limit_is_said_in_the_table(data_dir: Path) -> None:
    result = _gpuwatch("--data-dir", str(data_dir), "--limit", "2")
    assert "(newest 2 shown, older ones left out (raise --limit))" in result.stdout
    assert len([line for line in result.stdout.splitlines() if "GPU too hot" in line]) == 1 + 2


def test_an_empty_history_says_none(tmp_path: Path) -> None:
    HistoryStore(tmp_path / "history.sqlite3").close()
    result = _gpuwatch("--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Active alerts: none"
    assert result.stdout.splitlines()[2].endswith(": none")


def test_a_missing_database_is_exit_1_with_the_path_and_nothing_is_created(tmp_path: Path) -> None:
    result = _gpuwatch("--data-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    path = tmp_path / "nowhere" / "history.sqlite3"
    assert f"no history database at {path} (has the app run with this --data-dir?)" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "nowhere").exists()


def test_a_damaged_database_is_exit_1_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"not a database at all\n" * 200)
    result = _gpuwatch("--data-dir", str(tmp_path))
    assert result.returncode == 1 and "move it away" in result.stderr


def test_a_bad_duration_is_refused(tmp_path: Path) -> None:
    result = _gpuwatch("--data-dir", str(tmp_path), "--since", "yesterday")
    assert result.returncode == 2 and "not a duration like 90s, 30m, 24h or 7d" in result.stderr


def test_units_follow_what_each_rule_watches() -> None:
    from gpuwatch_desktop.alerts.rules_file import default_rules
    from gpuwatch_desktop.services.alerts_cli import _units

    units = _units(default_rules())
    assert units["gpu-too-hot"] == "°C"
    assert units["xid-error"] == ""  # an XID code, not a temperature
    assert units["idle-gpu"] == "%"  # utilisation
    assert units["memory-nearly-full"] == "%" and units["power-throttling"] == "%"  # derived metrics
    assert "node-down" not in units
