"""The Notifications settings: outside channels (webhook, e-mail) with their live status, added and edited here.

The editor holds no keyring: it yields ``channels()`` for the settings file and the secret changes
(``secret_updates()``, ``secret_moves()``) for a controller to write off the GUI thread. A webhook is shown by its
host only, never its URL's path or query (they may carry a token).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.alerts.notify.channels import host_of
from gpuwatch_desktop.alerts.notify.dispatcher import ChannelStatus
from gpuwatch_desktop.config.channels import ChannelConfig, EmailConfig, WebhookConfig
from gpuwatch_desktop.config.secrets import smtp_secret_name, webhook_secret_name
from gpuwatch_desktop.ui.channel_dialogs import ChannelDialog, EmailDialog, WebhookDialog
from gpuwatch_desktop.ui.theme import DARK, Theme

COLUMNS = ("Name", "Type", "Target", "Enabled", "Status")
NAME, TYPE, TARGET, ENABLED, STATUS = range(len(COLUMNS))
KEYRING_NOTE = "Webhook URLs and SMTP passwords are kept in the system keyring, never in the settings file."


@dataclass(slots=True)
class ChannelEntry:
    """One row: the channel as edited, the name it is saved under (None: added here), a new secret (None:
    unchanged), whether it differs from what is saved, and the last test (when, error or None for ok)."""

    config: ChannelConfig
    original: str | None
    secret: str | None = None
    dirty: bool = False
    test: tuple[float, str | None] | None = None
    sending: bool = False


def secret_name_of(config: ChannelConfig, name: str) -> str:
    return webhook_secret_name(name) if isinstance(config, WebhookConfig) else smtp_secret_name(name)


def needs_secret(config: ChannelConfig) -> bool:
    return isinstance(config, WebhookConfig) or bool(config.username)


def clock(when: float) -> str:
    return time.strftime("%H:%M", time.localtime(when))


def status_text(status: ChannelStatus | None) -> str:
    """What the dispatcher says of a channel: "ok at 12:03", "failing: <reason>" or "not sent yet"."""
    if status is None or (status.last_ok is None and status.last_error is None):
        return "not sent yet"
    if not status.healthy:
        reason = (status.last_error or "").removeprefix(f"{status.name}: ")
        waiting = f" ({status.pending} waiting)" if status.pending else ""
        return f"failing: {reason}{waiting}"
    return f"ok at {clock(status.last_ok or 0.0)}"


def type_text(config: ChannelConfig) -> str:
    if isinstance(config, EmailConfig):
        return "E-mail"
    return "Webhook (Slack)" if config.style == "slack" else "Webhook (Alertmanager)"


class ChannelsEditor(QWidget):
    """Edit ``channels``; ``testRequested(name)`` asks a controller to send a test through one of them."""

    testRequested = Signal(str)

    def __init__(self, channels: Sequence[ChannelConfig], theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._entries = [ChannelEntry(c, c.name) for c in channels]
        self._stored = {c.name: needs_secret(c) for c in channels}  # saved name -> a secret is (likely) stored
        self._removed: list[str] = []  # secret names of removed saved channels
        self._hosts: dict[str, str] = {}  # webhook host by saved name, once read from the keyring
        self._problems: dict[str, str] = {}  # saved name -> why the dispatcher could not build it
        self._live: dict[str, ChannelStatus] = {}
        self.dialog: ChannelDialog | None = None  # the add/edit dialog while it is open
        self._setup_ui()
        self._refresh()

    def _setup_ui(self) -> None:
        layout = QVBoxLayout(self)
        self.keyring_label = QLabel(KEYRING_NOTE)
        self.keyring_label.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # long errors are elided; the line below the table shows them whole
        header = self.table.horizontalHeader()
        for column in (NAME, TYPE, ENABLED):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TARGET, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(TARGET, 220)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.cellDoubleClicked.connect(self.edit_selected)
        buttons = QHBoxLayout()
        self.add_webhook_button = QPushButton("Add webhook…")
        self.add_email_button = QPushButton("Add e-mail…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.test_button = QPushButton("Send test")
        for button, slot in ((self.add_webhook_button, self.add_webhook), (self.add_email_button, self.add_email),
                             (self.edit_button, self.edit_selected), (self.remove_button, self.remove_selected),
                             (self.test_button, self._on_test_clicked)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.insertStretch(4, 1)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message_label)

    # ---- what the settings dialog and the controller read ------------------------------------------------

    def channels(self) -> tuple[ChannelConfig, ...]:
        return tuple(e.config for e in self._entries)

    def entry(self, name: str) -> ChannelEntry:
        """The row named ``name`` (KeyError if none)."""
        found = next((e for e in self._entries if e.config.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    def secret_updates(self) -> dict[str, str | None]:
        """Secret name -> new value, or None to delete it (removed channels, a renamed one given a new secret,
        an e-mail channel that no longer logs in). Values written win over deletions of the same name."""
        deletes: dict[str, str | None] = dict.fromkeys(self._removed)
        writes: dict[str, str | None] = {}
        for e in self._entries:
            new, old = secret_name_of(e.config, e.config.name), self._stored_secret_name(e)
            if needs_secret(e.config) and e.secret:
                writes[new] = e.secret
            if old is not None and (not needs_secret(e.config) or (e.secret and old != new)):
                deletes[old] = None
        return {**deletes, **writes}

    def secret_moves(self) -> dict[str, str]:
        """Old secret name -> new one, for renamed channels whose secret was left unchanged."""
        moves: dict[str, str] = {}
        for e in self._entries:
            new, old = secret_name_of(e.config, e.config.name), self._stored_secret_name(e)
            if old is not None and old != new and needs_secret(e.config) and not e.secret:
                moves[old] = new
        return moves

    def _stored_secret_name(self, e: ChannelEntry) -> str | None:
        if e.original is None or not self._stored.get(e.original, False):
            return None
        return secret_name_of(e.config, e.original)

    def status_of(self, name: str) -> str:
        return self._status(self.entry(name))[0]

    def target_of(self, name: str) -> str:
        return self._target(self.entry(name))

    # ---- what the controller shows -----------------------------------------------------------------------

    def show_keyring(self, ok: bool, reason: str) -> None:
        if ok:
            self.keyring_label.setText(KEYRING_NOTE)
            self.keyring_label.setStyleSheet(f"color: {self._theme.muted}")
        else:
            self.keyring_label.setText(f"No usable system keyring: webhook URLs and SMTP passwords cannot be saved "
                                       f"— {reason}")
            self.keyring_label.setStyleSheet(f"color: {self._theme.crit}")

    def show_channel_facts(self, hosts: Mapping[str, str], stored: Mapping[str, bool],
                           problems: Mapping[str, str]) -> None:
        """Webhook hosts, whether each saved channel has its secret, and why some could not be built."""
        self._hosts = dict(hosts)
        self._stored.update(stored)
        self._problems = dict(problems)
        self._refresh()

    def show_status(self, status: ChannelStatus) -> None:
        self._live[status.name] = status
        self._refresh()

    def show_test_result(self, name: str, error: str | None) -> None:
        entry = next((e for e in self._entries if e.config.name == name), None)
        if entry is None:  # renamed or removed while the test ran
            return
        entry.sending = False
        entry.test = (time.time(), None if error is None else error.removeprefix(f"{name}: "))
        self._refresh()

    # ---- rows ----------------------------------------------------------------------------------------------

    def _target(self, e: ChannelEntry) -> str:
        if isinstance(e.config, EmailConfig):
            return f"{e.config.host}:{e.config.port} → {', '.join(e.config.recipients)}"
        if e.secret:
            return host_of(e.secret)
        if e.original is None:
            return "no URL"
        return self._hosts.get(e.original, "…")

    def _status(self, e: ChannelEntry) -> tuple[str, str]:
        """The status text and its colour level ("ok", "crit" or "")."""
        live = self._live.get(e.original) if e.original is not None and not e.dirty else None
        if e.sending:
            return "sending a test…", ""
        if e.test is not None and (live is None or e.test[0] >= max(live.last_ok or 0, live.last_error_at or 0)):
            at, error = e.test
            return (f"test ok at {clock(at)}", "ok") if error is None else (f"test failed: {error}", "crit")
        if not e.config.enabled:
            return "disabled", ""
        if e.original is None or e.dirty:
            return "not saved yet", ""
        if e.original in self._problems:
            return f"unavailable: {self._problems[e.original]}", "crit"
        text = status_text(live)
        return text, "ok" if text.startswith("ok") else "crit" if text.startswith("failing") else ""

    def _refresh(self) -> None:
        selected = self._selected()
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._entries))
        for row, e in enumerate(self._entries):
            for column, item in enumerate(self._row_items(e)):
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        if selected is not None and selected in self._entries:
            self.table.selectRow(self._entries.index(selected))
        self._on_selection_changed()

    def _detail(self, e: ChannelEntry) -> tuple[str, str]:
        """The selected channel's test outcome or error in full, and its colour level."""
        text, level = self._status(e)
        if text.startswith("test ok"):
            return f"Test sent through “{e.config.name}”{text.removeprefix('test ok')}.", "ok"
        return (f"{e.config.name}: {text}", level) if level == "crit" else ("", "")

    def _row_items(self, e: ChannelEntry) -> list[QTableWidgetItem]:
        status, level = self._status(e)
        items = []
        for text in (e.config.name, type_text(e.config), self._target(e), "", status):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            items.append(item)
        enabled = items[ENABLED]
        enabled.setFlags(enabled.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        enabled.setCheckState(Qt.CheckState.Checked if e.config.enabled else Qt.CheckState.Unchecked)
        enabled.setToolTip("send alerts through this channel")
        if level:
            items[STATUS].setForeground(QColor(getattr(self._theme, level)))
        return items

    def _selected(self) -> ChannelEntry | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._entries[min(rows)] if rows and min(rows) < len(self._entries) else None

    def select(self, name: str) -> None:
        self.table.selectRow(self._entries.index(self.entry(name)))

    def _on_selection_changed(self) -> None:
        selected = self._selected()
        for button in (self.edit_button, self.remove_button, self.test_button):
            button.setEnabled(selected is not None)
        text, level = self._detail(selected) if selected is not None else ("", "")
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {getattr(self._theme, level or 'muted')}")

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != ENABLED:
            return
        e = self._entries[item.row()]
        enabled = item.checkState() == Qt.CheckState.Checked
        if enabled != e.config.enabled:
            e.config = replace(e.config, enabled=enabled)
            e.dirty = True
            self._refresh()

    # ---- actions -------------------------------------------------------------------------------------------

    def add_webhook(self) -> None:
        self._open(WebhookDialog(None, self._names(None), False, self._theme, self), None)

    def add_email(self) -> None:
        self._open(EmailDialog(None, self._names(None), False, self._theme, self), None)

    def edit_selected(self) -> None:
        e = self._selected()
        if e is None:
            return
        has_secret = bool(e.secret) or self._stored_secret_name(e) is not None
        if isinstance(e.config, WebhookConfig):
            self._open(WebhookDialog(e.config, self._names(e), has_secret, self._theme, self), e)
        else:
            self._open(EmailDialog(e.config, self._names(e), has_secret, self._theme, self), e)

    def remove_selected(self) -> None:
        e = self._selected()
        if e is None:
            return
        old = self._stored_secret_name(e)
        if old is not None:
            self._removed.append(old)
        self._entries.remove(e)
        self._refresh()

    def _names(self, editing: ChannelEntry | None) -> set[str]:
        return {e.config.name for e in self._entries if e is not editing}

    def _open(self, dialog: ChannelDialog, entry: ChannelEntry | None) -> None:
        self.dialog = dialog
        dialog.accepted.connect(lambda: self._on_dialog_accepted(dialog, entry))
        dialog.finished.connect(lambda _result: self._on_dialog_finished(dialog))
        dialog.open()

    def _on_dialog_finished(self, dialog: ChannelDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _on_dialog_accepted(self, dialog: ChannelDialog, entry: ChannelEntry | None) -> None:
        config = dialog.result_config
        assert config is not None
        if entry is None:
            entry = ChannelEntry(config, None)
            self._entries.append(entry)
        entry.secret = (dialog.result_secret or entry.secret) if needs_secret(config) else None
        entry.config, entry.dirty, entry.test = config, True, None
        self._refresh()
        self.select(config.name)

    def _on_test_clicked(self) -> None:
        e = self._selected()
        if e is None or e.sending:
            return
        e.sending, e.test = True, None
        self._refresh()
        self.testRequested.emit(e.config.name)

