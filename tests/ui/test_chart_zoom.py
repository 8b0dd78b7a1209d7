"""Zoom and pan: live charts stop following while the user looks around; stored ranges reload the zoomed span."""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.ui.main_window import MainWindow
from tests.ui.conftest import payload_snapshot, up_status


def _zoom_by_user(window: MainWindow, start: float, end: float) -> None:
    """What a wheel or drag on a plot does: change the view range, then report it as a manual change."""
    viewbox = window.detail.charts.plots["gpu_temp"].item.getViewBox()
    viewbox.setXRange(start, end, padding=0)
    viewbox.sigRangeChangedManually.emit([True, False])


def _show_node(qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    state.set_nodes(["node-a"])
    snapshot = payload_snapshot("node-a")
    state.publish(up_status(snapshot), snapshot)
    qtbot.waitUntil(lambda: window.detail.node == "node-a")


def test_live_charts_pause_on_zoom_and_follow_again_on_live(
    qtbot: QtBot, window: MainWindow, state: ClusterState
) -> None:
    _show_node(qtbot, window, state)
    now = time.time()
    _zoom_by_user(window, now - 60, now - 30)
    qtbot.waitUntil(lambda: "Paused" in window.detail.readout_label.text())
    window.detail.refresh_live(state.view("node-a"))
    start, end = window.detail.charts.time_range()
    assert (round(start), round(end)) == (round(now - 60), round(now - 30)), "a refresh must not undo the zoom"
    window.detail.select_range(0)
    start, end = window.detail.charts.time_range()
    assert end >= now and end - start == 300


def test_zooming_a_stored_range_requests_that_span(qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    _show_node(qtbot, window, state)
    with qtbot.waitSignal(window.detail.historyRequested) as first:
        window.detail.select_range(3)  # 7 d
    node, gpu, start, end = first.args
    assert (node, gpu) == ("node-a", 0) and 7 * 86400 - 1 < end - start < 7 * 86400 + 1
    with qtbot.waitSignal(window.detail.historyRequested, timeout=2000) as zoomed:
        _zoom_by_user(window, end - 3600, end - 1800)
    assert zoomed.args[2:] == [end - 3600, end - 1800]
