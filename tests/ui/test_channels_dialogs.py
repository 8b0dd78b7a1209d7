"""The webhook and e-mail channel dialogs: messages next to the fields, OK refused while invalid, secrets unechoed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.channels import EmailConfig, WebhookConfig
from gpuwatch_desktop.ui.channel_dialogs import UNCHANGED_HINT, EmailDialog, WebhookDialog

TOKEN_URL = "https://hooks.example.com/services/T000/B000/s3cr3t-t0ken"


def shown_errors(dialog: WebhookDialog | EmailDialog) -> str:
    return " | ".join(dialog.error_text(k) for k in (*dialog._error_labels, "general") if dialog.error_text(k))


def next_on_tab(widget: QWidget) -> QWidget:
    """The widget Tab moves to from ``widget``."""
    following = widget.nextInFocusChain()
    while not following.focusPolicy() & Qt.FocusPolicy.TabFocus:
        following = following.nextInFocusChain()
    return following


def test_new_webhook_needs_a_name_and_an_http_url(qtbot: QtBot) -> None:
    dialog = WebhookDialog(None, taken_names={"ops"}, has_secret=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.error_text("name") == "" and dialog.ok_button.isEnabled()  # nothing typed yet: no red
    dialog.ok_button.click()  # refused, and every message shows
    assert dialog.isVisible() and dialog.result_config is None
    assert dialog.error_text("name") == "a channel needs a name"
    assert dialog.error_text("url") == "a new webhook needs its URL"
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("ops")
    assert dialog.error_text("name") == "another channel is already named 'ops'"
    dialog.name_edit.setText("slack-ml")
    dialog.secret_edit.setText("ftp://hooks.example.com/s3cr3t-t0ken")
    assert dialog.error_text("url") == "the URL must start with http:// or https:// and name a host"
    assert "s3cr3t" not in shown_errors(dialog)
    dialog.accept()
    assert dialog.result_config is None and dialog.isVisible()  # refused: still open
    dialog.secret_edit.setText(TOKEN_URL)
    dialog.style_combo.setCurrentIndex(dialog.style_combo.findData("slack"))
    assert shown_errors(dialog) == ""
    assert dialog.ok_button.isEnabled()
    dialog.accept()
    assert not dialog.isVisible()
    assert dialog.result_config == WebhookConfig("slack-ml", "slack", 10.0)
    assert dialog.result_secret == TOKEN_URL


def test_webhook_url_is_a_password_field_and_empty_means_unchanged_when_editing(qtbot: QtBot) -> None:
    dialog = WebhookDialog(WebhookConfig("ops", timeout_s=5.0, enabled=False), taken_names=set(), has_secret=True)
    qtbot.addWidget(dialog)
    assert dialog.secret_edit.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.secret_edit.placeholderText() == UNCHANGED_HINT
    assert dialog.secret_edit.text() == ""
    assert dialog.ok_button.isEnabled()
    dialog.show_secret.setChecked(True)
    assert dialog.secret_edit.echoMode() == QLineEdit.EchoMode.Normal
    dialog.accept()
    assert dialog.result_config == WebhookConfig("ops", "alertmanager", 5.0, enabled=False)
    assert dialog.result_secret is None


def test_email_fields_are_checked_where_they_are_typed(qtbot: QtBot) -> None:
    dialog = EmailDialog(None, taken_names=set(), has_secret=False)
    qtbot.addWidget(dialog)
    assert next_on_tab(dialog.name_edit) is dialog.host_edit  # Tab follows the form
    assert next_on_tab(dialog.username_edit) is dialog.secret_edit
    assert next_on_tab(dialog.show_secret) is dialog.sender_edit
    dialog.name_edit.setText("mail")
    dialog.recipients_edit.setText("bob")
    assert dialog.error_text("recipients") == "not an address: bob"
    assert dialog.error_text("host") == ""  # not edited yet
    assert not dialog.ok_button.isEnabled()
    dialog.recipients_edit.setText("oncall@example.com, bob")
    assert dialog.error_text("recipients") == "not an address: bob"
    dialog.recipients_edit.setText("oncall@example.com")
    dialog.ok_button.click()  # refused, and every message shows
    assert dialog.error_text("host") == "enter the SMTP server's host name"
    assert dialog.error_text("sender") == "enter the sender's address, e.g. gpuwatch@example.com"
    dialog.host_edit.setText("smtp.example.com")
    dialog.sender_edit.setText("gpuwatch@example.com")
    dialog.recipients_edit.setText("oncall@example.com, bob@example.com")
    dialog.username_edit.setText("gpuwatch")
    assert dialog.error_text("password") == "enter the password of gpuwatch"
    dialog.secret_edit.setText("hunter2")
    dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("none"))
    assert dialog.port_spin.value() == 25  # followed the security's usual port
    assert dialog.error_text("username") == "a password is only sent encrypted: choose STARTTLS or TLS"
    assert "hunter2" not in shown_errors(dialog)
    assert not dialog.ok_button.isEnabled()
    dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("tls"))
    assert dialog.port_spin.value() == 465
    assert shown_errors(dialog) == ""
    dialog.accept()
    assert dialog.result_config == EmailConfig("mail", "smtp.example.com", 465, "tls", "gpuwatch",
                                               "gpuwatch@example.com", ("oncall@example.com", "bob@example.com"))
    assert dialog.result_secret == "hunter2"


def test_editing_email_keeps_a_typed_port_and_the_stored_password(qtbot: QtBot) -> None:
    saved = EmailConfig("mail", "mx.lab", 2525, "starttls", "bot", "bot@lab.org", ("a@lab.org",), 30.0)
    dialog = EmailDialog(saved, taken_names={"ops"}, has_secret=True)
    qtbot.addWidget(dialog)
    assert dialog.recipients_edit.text() == "a@lab.org"
    assert dialog.secret_edit.placeholderText() == UNCHANGED_HINT
    dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("tls"))
    assert dialog.port_spin.value() == 2525
    dialog.accept()
    assert dialog.result_config is not None and dialog.result_config.port == 2525
    assert dialog.result_secret is None
