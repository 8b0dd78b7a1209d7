"""The node editor's optional log server and Slurm URLs: shown, edited, saved, and checked."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.ui.settings_dialog import NODE_COLUMNS, SettingsDialog

HEAD = NodeConfig("head", "http://h:9400/metrics", "http://h:8002", "http://h:9341")


def test_the_optional_urls_are_shown_and_kept(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(nodes=(HEAD, NodeConfig("worker", "http://w:9400/metrics"))))
    qtbot.addWidget(dialog)
    assert [dialog.nodes_table.horizontalHeaderItem(c).text() for c in range(4)] == list(NODE_COLUMNS)
    assert [dialog.nodes_table.item(0, c).text() for c in range(4)] == [
        "head", "http://h:9400/metrics", "http://h:8002", "http://h:9341"]
    assert dialog.nodes_table.item(1, 3).text() == ""
    dialog._on_ok_clicked()
    assert dialog.result_settings is not None
    assert dialog.result_settings.nodes == (HEAD, NodeConfig("worker", "http://w:9400/metrics"))


def test_a_slurm_url_is_added_to_a_new_node(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.add_button.click()
    dialog.nodes_table.item(0, 3).setText("  https://abc-9341.proxy.runpod.net ")
    dialog._on_ok_clicked()
    assert dialog.result_settings is not None
    node = dialog.result_settings.nodes[0]
    assert (node.logs_url, node.slurm_url) == ("", "https://abc-9341.proxy.runpod.net")


def test_a_bad_slurm_url_cannot_be_saved_and_the_dialog_says_why(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(nodes=(HEAD,)))
    qtbot.addWidget(dialog)
    dialog.nodes_table.item(0, 3).setText("head:9341")
    dialog._on_ok_clicked()
    assert dialog.result_settings is None
    assert dialog.error_label.text() == "node 'head': Slurm exporter 'head:9341' is not an http(s) URL"
