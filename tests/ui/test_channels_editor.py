"""The channels editor: rows as the user sees them, and the secret changes it hands to the controller."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.alerts.notify.dispatcher import ChannelStatus
from gpuwatch_desktop.config.channels import EmailConfig, WebhookConfig
from gpuwatch_desktop.config.settings import Settings
from gpuwatch_desktop.ui.channel_dialogs import EmailDialog, WebhookDialog
from gpuwatch_desktop.ui.channels_editor import COLUMNS, ChannelsEditor
from gpuwatch_desktop.ui.settings_dialog import SettingsDialog

URL = "https://hooks.example.com:8443/services/T000/B000/s3cr3t-t0ken?key=abc"
OPS = WebhookConfig("ops")
MAIL = EmailConfig("mail", "smtp.lab.org", 587, "starttls", "bot", "bot@lab.org", ("a@lab.org", "b@lab.org"))
OPEN_MAIL = EmailConfig("open-mail", "relay.lab", 25, "none", "", "bot@lab.org", ("a@lab.org",))


def row_texts(editor: ChannelsEditor, name: str) -> dict[str, str]:
    table = editor.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
    return {header: table.item(row, c).text() for c, header in enumerate(COLUMNS)}


def add_webhook(qtbot: QtBot, editor: ChannelsEditor, name: str, url: str) -> None:
    editor.add_webhook_button.click()
    dialog = editor.dialog
    assert isinstance(dialog, WebhookDialog) and dialog.isVisible()
    dialog.name_edit.setText(name)
    dialog.secret_edit.setText(url)
    dialog.ok_button.click()
    assert editor.dialog is None


def edit(editor: ChannelsEditor, name: str) -> WebhookDialog | EmailDialog:
    editor.select(name)
    editor.edit_button.click()
    assert isinstance(editor.dialog, WebhookDialog | EmailDialog)
    return editor.dialog


def test_added_webhook_shows_its_host_only_and_its_url_is_a_secret(qtbot: QtBot) -> None:
    editor = ChannelsEditor([MAIL])
    qtbot.addWidget(editor)
    add_webhook(qtbot, editor, "slack-ml", URL)
    assert row_texts(editor, "slack-ml") == {"Name": "slack-ml", "Type": "Webhook (Alertmanager)",
                                             "Target": "hooks.example.com:8443", "Enabled": "",
                                             "Status": "not saved yet"}
    assert row_texts(editor, "mail")["Target"] == "smtp.lab.org:587 → a@lab.org, b@lab.org"
    assert editor.channels() == (MAIL, WebhookConfig("slack-ml"))
    assert editor.secret_updates() == {"webhook:slack-ml": URL}
    assert editor.secret_moves() == {}


def test_editing_with_an_empty_url_keeps_the_secret_and_a_rename_moves_it(qtbot: QtBot) -> None:
    editor = ChannelsEditor([OPS, MAIL])
    qtbot.addWidget(editor)
    dialog = edit(editor, "ops")
    dialog.timeout_spin.setValue(30)
    dialog.ok_button.click()
    assert editor.channels()[0] == WebhookConfig("ops", timeout_s=30.0)
    assert editor.secret_updates() == {} and editor.secret_moves() == {}
    dialog = edit(editor, "ops")
    dialog.name_edit.setText("oncall")
    dialog.ok_button.click()
    dialog = edit(editor, "mail")
    dialog.name_edit.setText("mail-2")
    dialog.secret_edit.setText("n3w-pass")
    dialog.ok_button.click()
    assert [c.name for c in editor.channels()] == ["oncall", "mail-2"]
    assert editor.secret_moves() == {"webhook:ops": "webhook:oncall"}
    assert editor.secret_updates() == {"smtp:mail-2": "n3w-pass", "smtp:mail": None}


def test_removed_channels_lose_their_secret_and_a_name_can_be_reused(qtbot: QtBot) -> None:
    editor = ChannelsEditor([OPS, MAIL, OPEN_MAIL])
    qtbot.addWidget(editor)
    for name in ("ops", "mail", "open-mail"):
        editor.select(name)
        editor.remove_button.click()
    assert editor.channels() == ()
    assert editor.secret_updates() == {"webhook:ops": None, "smtp:mail": None}  # open-mail never had one
    add_webhook(qtbot, editor, "ops", URL)
    assert editor.secret_updates() == {"webhook:ops": URL, "smtp:mail": None}


def test_email_that_stops_logging_in_drops_its_password(qtbot: QtBot) -> None:
    editor = ChannelsEditor([MAIL])
    qtbot.addWidget(editor)
    dialog = edit(editor, "mail")
    assert isinstance(dialog, EmailDialog)
    dialog.username_edit.setText("")
    dialog.ok_button.click()
    assert editor.secret_updates() == {"smtp:mail": None}


def test_enabled_checkbox_edits_the_channel(qtbot: QtBot) -> None:
    editor = ChannelsEditor([OPS])
    qtbot.addWidget(editor)
    editor.table.item(0, COLUMNS.index("Enabled")).setCheckState(Qt.CheckState.Unchecked)
    assert editor.channels() == (WebhookConfig("ops", enabled=False),)
    assert editor.status_of("ops") == "disabled"


def test_status_column_tells_ok_failing_unavailable_and_test_results(qtbot: QtBot) -> None:
    editor = ChannelsEditor([OPS, MAIL, OPEN_MAIL])
    qtbot.addWidget(editor)
    assert editor.status_of("ops") == "not sent yet"
    assert editor.target_of("ops") == "…"  # the URL is still being read from the keyring
    editor.show_channel_facts({"ops": "hooks.example.com"}, {"ops": True, "mail": False},
                              {"mail": "e-mail channel 'mail' has no SMTP password in the keyring"})
    assert editor.target_of("ops") == "hooks.example.com"
    assert editor.status_of("mail") == "unavailable: e-mail channel 'mail' has no SMTP password in the keyring"
    sent = time.time()
    editor.show_status(ChannelStatus("ops", last_ok=sent))
    assert editor.status_of("ops") == f"ok at {time.strftime('%H:%M', time.localtime(sent))}"
    editor.show_status(ChannelStatus("ops", last_ok=sent, last_error="ops: hooks.example.com answered HTTP 500",
                                     last_error_at=sent + 1, pending=2))
    assert editor.status_of("ops") == "failing: hooks.example.com answered HTTP 500 (2 waiting)"
    editor.select("open-mail")
    editor.test_button.click()
    assert editor.status_of("open-mail") == "sending a test…"
    editor.show_test_result("open-mail", "open-mail: cannot send mail via relay.lab:25: Connection refused")
    assert editor.status_of("open-mail") == "test failed: cannot send mail via relay.lab:25: Connection refused"
    assert "Connection refused" in editor.message_label.text()


def test_settings_dialog_returns_channels_and_the_tray_choice(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(channels=(OPS,), close_to_tray=True))
    qtbot.addWidget(dialog)
    tabs = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert tabs == ["General", "Nodes", "Notifications", "Model"]
    dialog.tray_check.setChecked(False)
    dialog.channels_editor.add_webhook_button.click()
    adding = dialog.channels_editor.dialog
    assert isinstance(adding, WebhookDialog)
    adding.name_edit.setText("ops")
    adding.secret_edit.setText(URL)
    assert not adding.ok_button.isEnabled()
    adding.reject()
    assert dialog.channels_editor.dialog is None
    add_webhook(qtbot, dialog.channels_editor, "ops-2", URL)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.result_settings is not None
    assert dialog.result_settings.close_to_tray is False
    assert dialog.result_settings.channels == (OPS, WebhookConfig("ops-2"))
