"""``install_chat_dock``: the assistant docked on the main window's right, View → Assistant, the setup button
opening Settings, and the dock's place and visibility kept with the window's layout."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.llm import LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.chat_controller import ChatController
from gpuwatch_desktop.ui.chat_install import install_chat_dock
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.theme import DARK
from tests.unit.test_secrets import MemoryKeyring


def install(window: MainWindow, state: ClusterState) -> ChatController:
    return install_chat_dock(window, None, LlmConfig, SecretStore("gpuwatch-test", MemoryKeyring()),
                             AppClusterData(state), DARK)


def test_the_dock_sits_on_the_right_with_a_view_menu_toggle_and_opens_settings(
        qtbot: QtBot, window: MainWindow, state: ClusterState) -> None:
    dock = install(window, state).dock
    qtbot.waitUntil(dock.isVisible)  # added to a window already shown
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    [view_menu] = [a.menu() for a in window.menuBar().actions() if a.text() == "&View"]
    [toggle] = view_menu.actions()
    assert toggle.text() == "Assistant" and toggle.shortcut().toString() == "Ctrl+Shift+A"
    toggle.trigger()
    assert not dock.isVisible()
    toggle.trigger()
    assert dock.isVisible() and dock.setup_panel.isVisible()  # no model set up yet
    with qtbot.waitSignal(window.settingsRequested) as opened:
        dock.settings_button.click()
    assert opened.args == ["Model"], "the dock's setup button opens Settings on the Model tab"


def test_the_dock_keeps_its_place_and_visibility_across_restarts(
        qtbot: QtBot, window: MainWindow, state: ClusterState, tmp_path: Path) -> None:
    dock = install(window, state).dock
    qtbot.waitUntil(dock.isVisible)  # added to a window already shown
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.save_layout()
    layout = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    bridge = StateBridge(state)
    again = MainWindow(state, bridge, DARK, layout)
    qtbot.addWidget(again)
    moved = install(again, state).dock
    again.show()
    again.restore_layout()
    assert again.dockWidgetArea(moved) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert moved.isVisible()
    moved.toggleViewAction().trigger()
    assert not moved.isVisible()
    again.save_layout()
    third = MainWindow(state, bridge, DARK, QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(third)
    hidden = install(third, state).dock
    third.show()
    third.restore_layout()
    assert not hidden.isVisible()
    bridge.detach()
