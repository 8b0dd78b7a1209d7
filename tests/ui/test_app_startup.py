"""Start-up order of the composition root: the window is drawn before storage and the services start, with every
tab's title; the hidden tabs get their views after that first frame (Alerts only with a history database)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QWidget
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.cli import AppOptions
from gpuwatch_desktop.ui.app import AppController
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.startup_probe import PROBE_ENV, first_frame, install_startup_probe

ALL_TABS = ["Cluster", "Alerts", "Slurm", "Logs", "RunPod", "Provision"]


class FirstPaintWitness(QObject):
    """At the main window's first paint: what the controller had built by then."""

    def __init__(self, app: QApplication, controller: AppController) -> None:
        super().__init__()
        self._app, self._controller = app, controller
        self.seen: dict[str, object] | None = None
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.seen is None and event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            window = self._controller.window
            assert window is not None
            self.seen = {"history": self._controller.history, "secrets": self._controller.secrets,
                         "alerts": self._controller.alerts, "dock": self._controller.chat_dock,
                         "tabs": [window.tabs.tabText(i) for i in range(window.tabs.count())]}
            self._app.removeEventFilter(self)
        return False


def _options(data_dir: Path, config_path: Path) -> AppOptions:
    return AppOptions(demo=False, demo_nodes=2, demo_scenarios=(), config_path=config_path, data_dir=data_dir,
                      screenshot=None, exit_after_s=None)


def _start_and_stop(app: QApplication, controller: AppController) -> FirstPaintWitness:
    witness = FirstPaintWitness(app, controller)

    async def scenario() -> None:
        try:
            await controller.start()
        finally:
            await controller.shutdown()

    with qasync.QEventLoop(app) as loop:
        loop.run_until_complete(scenario())
    return witness


def _tab_views(window: MainWindow) -> dict[str, list[QWidget]]:
    pages = {window.tabs.tabText(i): window.tabs.widget(i) for i in range(window.tabs.count())}
    return {title: page.findChildren(QWidget) for title, page in pages.items()}


def test_the_window_is_drawn_with_every_tab_before_storage_and_services_start(
        qapp: QApplication, tmp_path: Path) -> None:
    controller = AppController(_options(tmp_path / "data", tmp_path / "settings.json"), qapp)
    witness = _start_and_stop(qapp, controller)
    assert witness.seen is not None, "the window was painted"
    assert witness.seen["history"] is None and witness.seen["secrets"] is None and witness.seen["alerts"] is None
    assert witness.seen["dock"] is not None, "the assistant dock is in the first frame"
    assert witness.seen["tabs"] == ALL_TABS
    assert controller.window is not None and controller.alerts is not None
    views = _tab_views(controller.window)
    assert list(views) == ALL_TABS
    assert all(views[title] for title in ALL_TABS), "every tab got its view after the first frame"


def test_without_a_history_database_the_alerts_tab_goes_and_the_others_stay(
        qapp: QApplication, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir's parent should be")
    controller = AppController(_options(blocker / "data", tmp_path / "settings.json"), qapp)
    witness = _start_and_stop(qapp, controller)
    assert witness.seen is not None and witness.seen["tabs"] == ALL_TABS
    assert controller.history is None and controller.alerts is None
    assert controller.window is not None
    views = _tab_views(controller.window)
    assert list(views) == [t for t in ALL_TABS if t != "Alerts"]
    assert all(views.values())
    assert "cannot open history database" in controller.window.storage_label.text()


def test_reserved_tabs_take_their_views_in_place(qtbot: QtBot, window: MainWindow) -> None:
    window.reserve_views(["Alerts", "Slurm"])
    window.add_view(QLabel("logs view"), "Logs")  # not reserved: appended
    slurm = QLabel("slurm view")
    window.add_view(slurm, "Slurm")
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Cluster", "Alerts", "Slurm", "Logs"]
    assert slurm.parent() is window.tabs.widget(2)
    window.drop_unfilled_views()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Cluster", "Slurm", "Logs"]
    window.drop_unfilled_views()  # nothing left to drop
    assert window.tabs.count() == 3


def test_first_frame_returns_after_the_paint_or_the_time_limit(qapp: QApplication, qtbot: QtBot) -> None:
    shown, hidden = QMainWindow(), QMainWindow()
    qtbot.addWidget(shown)
    qtbot.addWidget(hidden)
    painted: list[bool] = []

    class PaintSeen(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(True)
            return False

    seen = PaintSeen()
    shown.installEventFilter(seen)

    async def scenario() -> None:
        shown.show()
        await first_frame(shown, 30.0)
        assert painted, "it returned once the window was painted"
        await asyncio.wait_for(first_frame(hidden, 0.05), 30.0)  # never shown: returns at its own limit

    with qasync.QEventLoop(qapp) as loop:
        loop.run_until_complete(scenario())


def test_the_probe_records_the_first_paint_whole_in_a_folder_made_for_it(
        qapp: QApplication, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "not-yet" / "probe.json"  # the app makes its data dir only after the first frame
    monkeypatch.setenv(PROBE_ENV, str(target))
    probe = install_startup_probe(qapp)
    assert probe is not None
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(target.exists)
    stamp = json.loads(target.read_text())
    assert stamp["painted_monotonic"] > 0 and probe.painted
    assert [p.name for p in target.parent.iterdir()] == ["probe.json"], "no partial file left behind"
    probe.deleteLater()
