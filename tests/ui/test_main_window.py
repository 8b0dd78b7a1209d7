"""The main window as a user sees it, fed through the real state store and bridge."""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.snapshot import NodeState
from gpuwatch_desktop.services.state import ClusterState, RoundInfo
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.overview import NodeCard
from gpuwatch_desktop.ui.theme import DARK
from tests.ui.conftest import payload_snapshot, up_status


def _feed(state: ClusterState, node: str = "node-a", rounds: int = 3) -> None:
    state.set_nodes([node])
    now = time.time()
    for i in range(rounds):
        snapshot = payload_snapshot(node, now - (rounds - 1 - i) * 2)
        state.publish(up_status(snapshot), snapshot)


def _card(qtbot: QtBot, window: MainWindow, node: str = "node-a") -> NodeCard:
    qtbot.waitUntil(lambda: window.overview.card(node) is not None)
    card = window.overview.card(node)
    assert card is not None
    return card


def test_overview_shows_each_gpu_with_its_values(qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    _feed(state)
    card = _card(qtbot, window)
    qtbot.waitUntil(lambda: "up" in card.state_label.text())
    snapshot = state.view("node-a").snapshot  # type: ignore[union-attr]
    assert snapshot is not None and len(card._tiles) == len(snapshot.gpus) == 8
    gpu = snapshot.gpus[5]
    tip = card._tiles[5].toolTip()
    assert f"GPU utilisation: {gpu.value('gpu_util'):g} %" in tip and gpu.uuid in tip
    assert "8 × NVIDIA H100 80GB HBM3" in card.info_label.text()


def test_a_failing_node_shows_stale_with_the_reason(qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    _feed(state)
    good = state.view("node-a")
    assert good is not None
    state.publish(replace(good.status, state=NodeState.STALE, reason="timed out after 1.5 s", consecutive_failures=1))
    card = _card(qtbot, window)
    qtbot.waitUntil(lambda: "stale" in card.state_label.text())
    assert "timed out after 1.5 s" in card.info_label.text()
    assert state.view("node-a").snapshot is good.snapshot  # type: ignore[union-attr]


def test_status_bar_and_storage_error(qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    _feed(state)
    _card(qtbot, window)
    state.finish_round(RoundInfo(time.time(), 12.4, 1, 2))
    qtbot.waitUntil(lambda: window.nodes_label.text() == "nodes up 1/2")
    assert window.round_label.text() == "round 12 ms"
    state.set_storage_error("database or disk is full")
    assert "History not saved: database or disk is full" in window.storage_label.text()


def test_clicking_a_tile_opens_its_detail_with_charts_and_processes(
    qtbot: QtBot, window: MainWindow, state: ClusterState
) -> None:
    _feed(state)
    card = _card(qtbot, window)
    qtbot.waitUntil(lambda: len(card._tiles) == 8)
    qtbot.mouseClick(card._tiles[2], Qt.MouseButton.LeftButton)
    assert window.detail.node == "node-a" and window.detail.gpu_index == 2
    assert "GPU 2" in window.detail.title_label.text()
    snapshot = state.view("node-a").snapshot  # type: ignore[union-attr]
    expected = sorted(p.pid for p in snapshot.processes if p.gpu_index == 2)  # type: ignore[union-attr]
    model = window.detail.process_model
    assert sorted(row[1] for row in model.rows) == expected
    util = window.detail.charts.plots["gpu_util"].curves["GPU 2"]
    assert len(util.ts) == 3 and util.values[-1] == snapshot.gpu(2).value("gpu_util")  # type: ignore[union-attr]
    readout = window.detail.charts.show_crosshair_at(float(util.ts[-1]))
    assert f"GPU 2 {util.values[-1]:.0f}" in readout


def test_export_png_and_csv(qtbot: QtBot, window: MainWindow, state: ClusterState, tmp_path: Path) -> None:
    _feed(state)
    qtbot.waitUntil(lambda: window.detail.node == "node-a")
    window.detail.refresh_live(state.view("node-a"))
    rows = window.detail.charts.export_csv(tmp_path / "data.csv")
    with (tmp_path / "data.csv").open() as f:
        table = list(csv.DictReader(f))
    assert rows == len(table) == 3 * 5  # 3 rounds × 5 charted metrics
    assert {r["metric"] for r in table} == {"gpu_util", "fb_used", "gpu_temp", "power", "sm_clock"}
    window.detail.charts.export_png(tmp_path / "chart.png")
    image = QImage(str(tmp_path / "chart.png"))
    assert not image.isNull() and image.width() > 100


def test_window_remembers_its_geometry(qtbot: QtBot, state: ClusterState, tmp_path: Path) -> None:
    store = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    first = MainWindow(state, StateBridge(state), DARK, store)
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 640)
    first.splitter.setSizes([300, 460])
    qtbot.waitUntil(lambda: first.width() == 760)
    sizes = first.splitter.sizes()
    first.close()
    second = MainWindow(state, StateBridge(state), DARK, QSettings(str(tmp_path / "layout.ini"),
                                                                    QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.restore_layout()
    second.show()
    qtbot.waitUntil(lambda: second.width() == 760)
    assert second.splitter.sizes() == sizes
