"""The webhook and e-mail channel dialogs of the Notifications settings, checked as you type.

The secret field (webhook URL, SMTP password) is a password field. When a secret is already stored for the
channel, an empty field means "unchanged". Messages never repeat what was typed in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from urllib.parse import urlsplit

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.config.channels import ChannelConfig, EmailConfig, WebhookConfig
from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.ui.theme import DARK, Theme

UNCHANGED_HINT = "unchanged (kept in the system keyring)"
STYLES = (("Alertmanager (JSON webhook)", "alertmanager"), ("Slack (incoming webhook)", "slack"))
SECURITY = (("STARTTLS", "starttls", 587), ("TLS", "tls", 465), ("none (plain text)", "none", 25))


def url_problem(url: str) -> str:
    """Why ``url`` cannot be a webhook URL ("" when it can); never quotes the URL (it may hold a token)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "this is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "the URL must start with http:// or https:// and name a host"
    return ""


class ChannelDialog(QDialog):
    """A form whose rows carry their own error label; OK is refused while a field is invalid.

    A new channel's messages appear field by field as they are edited, and all at once when OK is clicked.

    Once accepted, ``result_config`` is the channel and ``result_secret`` the new secret (None: unchanged).
    """

    def __init__(self, title: str, taken_names: Collection[str], has_secret: bool, editing: bool, theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._show_all = editing  # else only the fields edited so far, until OK is clicked
        self._touched: set[str] = set()
        self._field_keys: dict[QWidget, str] = {}
        self.setWindowTitle(title)
        self.setMinimumWidth(500)
        self._taken = set(taken_names)
        self._has_secret = has_secret
        self._theme = theme
        self._error_labels: dict[str, QLabel] = {}
        self.errors: dict[str, str] = {}
        self.result_config: ChannelConfig | None = None
        self.result_secret: str | None = None
        self._form_box = QWidget(self)  # rows belong to the dialog from the start
        self.form = QFormLayout(self._form_box)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_secret = QCheckBox("Show")
        self.show_secret.toggled.connect(self._on_show_secret_toggled)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(1.0, 300.0)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" s")
        self.general_error = self._error_label("error_general")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _error_label(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setStyleSheet(f"color: {self._theme.crit}")
        label.setWordWrap(True)
        label.hide()
        return label

    def _add_row(self, key: str, label: str, widget: QWidget, field: QWidget | None = None) -> None:
        self._field_keys[field or widget] = key
        box = QWidget(self._form_box)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        self._error_labels[key] = self._error_label(f"error_{key}")
        column.addWidget(self._error_labels[key])
        self.form.addRow(label, box)

    def _secret_row(self) -> QWidget:
        box = QWidget(self._form_box)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.secret_edit, 1)
        row.addWidget(self.show_secret)
        return box

    def _finish_ui(self, note: str) -> None:
        layout = QVBoxLayout(self)
        hint = QLabel(note)
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {self._theme.muted}")
        layout.addWidget(self._form_box)
        layout.addWidget(hint)
        layout.addWidget(self.general_error)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._on_edited)
        for combo in self.findChildren(QComboBox):
            combo.currentIndexChanged.connect(self._on_edited)
        for spin in self.findChildren(QSpinBox):
            spin.valueChanged.connect(self._on_edited)
        for double_spin in self.findChildren(QDoubleSpinBox):
            double_spin.valueChanged.connect(self._on_edited)
        self._set_tab_order()
        self._on_edited()

    def _set_tab_order(self) -> None:
        """Tab follows the form from the name down to the buttons (not the order the fields were made in)."""
        chain: list[QWidget] = []
        for field in self._field_keys:
            chain += [field, self.show_secret] if field is self.secret_edit else [field]
        chain += [self.ok_button, self.buttons.button(QDialogButtonBox.StandardButton.Cancel)]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        self.name_edit.setFocus()

    def _on_show_secret_toggled(self, shown: bool) -> None:
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)

    def collect(self) -> tuple[ChannelConfig | None, dict[str, str]]:
        """The channel the fields describe (None while invalid) and field -> what is wrong."""
        raise NotImplementedError

    def _name_problem(self, name: str) -> str:
        if not name:
            return "a channel needs a name"
        return f"another channel is already named {name!r}" if name in self._taken else ""

    @staticmethod
    def _validated(config: ChannelConfig, errors: dict[str, str]) -> ChannelConfig | None:
        if errors:
            return None
        try:
            config.validate()
        except ConfigError as exc:
            errors["general"] = str(exc)
            return None
        return config

    def error_text(self, key: str) -> str:
        """The message shown next to field ``key`` ("general": below the form); "" when it is fine."""
        label = self.general_error if key == "general" else self._error_labels[key]
        return "" if label.isHidden() else label.text()

    def _on_edited(self) -> None:
        key = self._field_keys.get(self.sender())  # type: ignore[call-overload]
        if key is not None:
            self._touched.add(key)
        _, self.errors = self.collect()
        shown = {k: v for k, v in self.errors.items() if self._show_all or k in self._touched or k == "general"}
        for key, label in (*self._error_labels.items(), ("general", self.general_error)):
            label.setText(shown.get(key, ""))
            label.setVisible(key in shown)
        self.ok_button.setEnabled(not shown)

    def accept(self) -> None:
        config, self.errors = self.collect()
        if config is None:
            self._show_all = True
            self._on_edited()
            return
        self.result_config = config
        self.result_secret = self.secret_edit.text().strip() or None
        super().accept()


class WebhookDialog(ChannelDialog):
    """Add (``config`` None) or edit a webhook channel; the URL is the secret."""

    def __init__(self, config: WebhookConfig | None, taken_names: Collection[str], has_secret: bool,
                 theme: Theme = DARK, parent: QWidget | None = None) -> None:
        title = "Add webhook" if config is None else f"Edit webhook — {config.name}"
        super().__init__(title, taken_names, has_secret, config is not None, theme, parent)
        base = config or WebhookConfig(name="")
        self._enabled = base.enabled
        self.style_combo = QComboBox()
        for text, style in STYLES:
            self.style_combo.addItem(text, style)
        self.name_edit.setText(base.name)
        self.style_combo.setCurrentIndex(max(0, self.style_combo.findData(base.style)))
        self.timeout_spin.setValue(base.timeout_s)
        self.secret_edit.setPlaceholderText(UNCHANGED_HINT if has_secret else "https://hooks.example.com/…")
        self._add_row("name", "Name", self.name_edit)
        self._add_row("style", "Style", self.style_combo)
        self._add_row("url", "URL", self._secret_row(), self.secret_edit)
        self._add_row("timeout", "Timeout", self.timeout_spin)
        self._finish_ui("The URL often carries a token: it is kept in the system keyring, never in the settings "
                        "file, and only its host is shown.")

    def collect(self) -> tuple[ChannelConfig | None, dict[str, str]]:
        errors: dict[str, str] = {}
        name = self.name_edit.text().strip()
        if problem := self._name_problem(name):
            errors["name"] = problem
        url = self.secret_edit.text().strip()
        if url and (problem := url_problem(url)):
            errors["url"] = problem
        elif not url and not self._has_secret:
            errors["url"] = "a new webhook needs its URL"
        config = WebhookConfig(name, self.style_combo.currentData(), self.timeout_spin.value(), self._enabled)
        return self._validated(config, errors), errors


class EmailDialog(ChannelDialog):
    """Add (``config`` None) or edit an e-mail channel; the SMTP password is the secret."""

    def __init__(self, config: EmailConfig | None, taken_names: Collection[str], has_secret: bool,
                 theme: Theme = DARK, parent: QWidget | None = None) -> None:
        title = "Add e-mail" if config is None else f"Edit e-mail — {config.name}"
        super().__init__(title, taken_names, has_secret, config is not None, theme, parent)
        base = config or EmailConfig(name="", host="")
        self._enabled = base.enabled
        self.host_edit, self.username_edit = QLineEdit(base.host), QLineEdit(base.username)
        self.sender_edit = QLineEdit(base.sender)
        self.recipients_edit = QLineEdit(", ".join(base.recipients))
        self.recipients_edit.setPlaceholderText("oncall@example.com, lab@example.com")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(base.port)
        self.security_combo = QComboBox()
        for text, security, _port in SECURITY:
            self.security_combo.addItem(text, security)
        self.security_combo.setCurrentIndex(max(0, self.security_combo.findData(base.security)))
        self.security_combo.currentIndexChanged.connect(self._on_security_changed)
        self.name_edit.setText(base.name)
        self.timeout_spin.setValue(base.timeout_s)
        self.secret_edit.setPlaceholderText(UNCHANGED_HINT if has_secret else "needed when a username is set")
        for key, label, widget in (
            ("name", "Name", self.name_edit), ("host", "SMTP host", self.host_edit), ("port", "Port", self.port_spin),
            ("security", "Security", self.security_combo), ("username", "Username", self.username_edit),
            ("password", "Password", self._secret_row()), ("sender", "From", self.sender_edit),
            ("recipients", "To", self.recipients_edit), ("timeout", "Timeout", self.timeout_spin),
        ):
            self._add_row(key, label, widget, self.secret_edit if key == "password" else None)
        self._finish_ui("The password is kept in the system keyring, never in the settings file. "
                        "Separate several recipients with commas.")

    def _on_security_changed(self) -> None:
        """Follow the usual port of the chosen security, unless the user typed another one."""
        defaults = {security: port for _text, security, port in SECURITY}
        if self.port_spin.value() in defaults.values():
            self.port_spin.setValue(defaults[self.security_combo.currentData()])

    def recipients(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.recipients_edit.text().split(",") if r.strip())

    def collect(self) -> tuple[ChannelConfig | None, dict[str, str]]:
        errors: dict[str, str] = {}
        name, username = self.name_edit.text().strip(), self.username_edit.text().strip()
        sender, recipients = self.sender_edit.text().strip(), self.recipients()
        security = self.security_combo.currentData()
        if problem := self._name_problem(name):
            errors["name"] = problem
        if not self.host_edit.text().strip():
            errors["host"] = "enter the SMTP server's host name"
        if username and security == "none":
            errors["username"] = "a password is only sent encrypted: choose STARTTLS or TLS"
        if username and not self._has_secret and not self.secret_edit.text().strip():
            errors["password"] = f"enter the password of {username}"
        if "@" not in sender:
            errors["sender"] = "enter the sender's address, e.g. gpuwatch@example.com"
        bad = [r for r in recipients if "@" not in r]
        if not recipients or bad:
            errors["recipients"] = f"not an address: {bad[0]}" if bad else "enter at least one recipient"
        config = EmailConfig(name, self.host_edit.text().strip(), self.port_spin.value(), security, username,
                             sender, recipients, self.timeout_spin.value(), self._enabled)
        return self._validated(config, errors), errors
