"""Helpers for the Alerts view tests (no tests here): a real AlertService over a real SQLite file, and the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.alerts import AlertRule
from gpuwatch_desktop.core.snapshot import NodeSnapshot
from gpuwatch_desktop.services.alerts_service import AlertService
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_desktop.ui.alerts_controller import AlertsController
from gpuwatch_desktop.ui.alerts_view import AlertsView
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.tables import CopyableTableView
from gpuwatch_desktop.ui.theme import DARK
from tests.ui.conftest import payload_snapshot, up_status

HOT = AlertRule(id="hot", name="GPU hot", metric="gpu_temp", threshold=60.0)


@dataclass
class Harness:
    state: ClusterState
    worker: HistoryWorker
    service: AlertService
    view: AlertsView
    controller: AlertsController
    db: Path

    def stored_rules(self) -> list[AlertRule]:
        """The rules as a fresh connection reads them from the file."""
        with HistoryStore(self.db) as store:
            return store.alerts().list_rules()

    def publish(self, node: str, when: float, **values: float) -> NodeSnapshot:
        """A real dcgm payload for ``node`` with every GPU's ``values`` overridden, as the poller publishes it."""
        snapshot = payload_snapshot(node, when)
        gpus = tuple(replace(g, values={**g.values, **values}) for g in snapshot.gpus)
        snapshot = replace(snapshot, gpus=gpus)
        if node not in self.state.node_names:
            self.state.set_nodes([*self.state.node_names, node])
        self.state.publish(up_status(snapshot), snapshot)
        return snapshot


def run_alerts(qtbot: QtBot, tmp_path: Path, rules: list[AlertRule],
               scenario: Callable[[Harness], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` on a qasync loop with a started service seeded with ``rules`` and a wired view."""
    loop = qasync.QEventLoop(QApplication.instance())
    db = tmp_path / "history.sqlite3"

    async def main() -> None:
        state = ClusterState()
        worker = HistoryWorker(lambda: HistoryStore(db))
        await worker.open()
        service = AlertService(state, worker, defaults=lambda: list(rules))
        await service.start()
        view = AlertsView(DARK)
        qtbot.addWidget(view)
        view.resize(1200, 700)
        view.show()
        controller = AlertsController(service, view, view)
        bridge = StateBridge(state, view)  # wired as the app wires it (alerts_controller's docstring)
        bridge.alertsChanged.connect(controller.refresh)
        bridge.nodesChanged.connect(controller.refresh)
        controller.refresh()
        try:
            await scenario(Harness(state, worker, service, view, controller, db))
        finally:
            bridge.detach()
            await service.aclose()
            await worker.close()

    with loop:
        loop.run_until_complete(main())


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the loop run until ``condition()`` is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def table_texts(table: CopyableTableView, column: str) -> list[str]:
    """The texts of one column as shown (sorted as the view sorts them)."""
    model = table.model()
    col = table.source_model.headers.index(column)
    return [model.index(row, col).data() for row in range(model.rowCount())]


def select_row(table: CopyableTableView, text: str, column: str) -> QModelIndex:
    """Select the shown row whose ``column`` reads ``text``; its index in the view's model."""
    row = table_texts(table, column).index(text)
    table.selectRow(row)
    return table.model().index(row, 0)
