"""Choosing a stored range loads history from a real SQLite file off the GUI thread and charts it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_desktop.ui.history_controller import HistoryController
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.overview import ALL_GPUS
from tests.ui.conftest import payload_snapshot, up_status


def _store_an_hour(path: Path, now: float) -> None:
    with HistoryStore(path) as store:
        for minute in range(59, -1, -1):  # inside the hour even if the request starts a moment later
            snapshot = payload_snapshot("node-a", now - minute * 60)
            gpus = tuple(replace(g, values={**g.values, "gpu_util": float(minute)}) for g in snapshot.gpus)
            store.write_round([replace(snapshot, gpus=gpus)])


def test_one_hour_range_charts_stored_points(
    qtbot: QtBot, window: MainWindow, state: ClusterState, tmp_path: Path
) -> None:
    now = time.time()
    _store_an_hour(tmp_path / "h.sqlite3", now)
    loop = qasync.QEventLoop(QApplication.instance())
    worker = HistoryWorker(lambda: HistoryStore(tmp_path / "h.sqlite3"))

    async def scenario() -> None:
        await worker.open()
        HistoryController(worker, window.detail, window)
        snapshot = payload_snapshot("node-a", now)
        state.set_nodes(["node-a"])
        state.publish(up_status(snapshot), snapshot)
        window.overview.gpuSelected.emit("node-a", ALL_GPUS)
        window.detail.select_range(1)  # "1 h"
        plot = window.detail.charts.plots["gpu_util"]
        for _ in range(100):
            if len(plot.curves) == 8 and all(len(c.ts) == 60 for c in plot.curves.values()):
                break
            await asyncio.sleep(0.05)
        curve = plot.curves["GPU 3"]
        assert len(curve.ts) == 60, "every stored minute comes back"
        assert curve.values[0] == 59.0 and curve.values[-1] == 0.0
        await worker.close()

    with loop:
        loop.run_until_complete(scenario())
