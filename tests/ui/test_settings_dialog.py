from __future__ import annotations

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.ui.settings_dialog import SettingsDialog


def test_invalid_node_cannot_be_saved_and_the_dialog_says_why(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(nodes=(NodeConfig("a", "http://h:9400/metrics"),)))
    qtbot.addWidget(dialog)
    dialog.add_button.click()
    dialog.nodes_table.item(1, 1).setText("not a url")
    dialog._on_ok_clicked()
    assert dialog.result_settings is None
    assert "not an http(s) URL" in dialog.error_label.text()


def test_added_edited_and_removed_nodes_are_returned(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(nodes=(NodeConfig("a", "http://h:9400/metrics"),)))
    qtbot.addWidget(dialog)
    dialog.add_button.click()
    dialog.nodes_table.item(1, 0).setText("gpu-box")
    dialog.nodes_table.item(1, 1).setText("https://abc-9400.proxy.runpod.net/metrics")
    dialog.nodes_table.selectRow(0)
    dialog.remove_button.click()
    dialog.interval_spin.setValue(5.0)
    dialog._on_ok_clicked()
    assert dialog.result_settings is not None
    assert dialog.result_settings.nodes == (NodeConfig("gpu-box", "https://abc-9400.proxy.runpod.net/metrics"),)
    assert dialog.result_settings.poll_interval_s == 5.0


def test_the_dialog_can_open_on_a_named_tab(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show_tab("Model")
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Model"
    dialog.show_tab("")
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Model", "an empty name leaves the tab as it is"
