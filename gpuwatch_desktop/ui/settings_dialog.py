"""Settings in four tabs: General (poll interval, timeout, theme, tray), Nodes (name, exporter, log server and
Slurm URLs), Notifications (outside channels, see ``ChannelsEditor``) and Model (the assistant's server, see
``llm_settings``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.config.secrets import node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.ui.channels_editor import ChannelsEditor
from gpuwatch_desktop.ui.llm_settings import ModelSettingsTab
from gpuwatch_desktop.ui.theme import DARK, Theme

NODE_COLUMNS = ("Name", "Metrics URL", "Log server URL (optional)", "Slurm URL (optional, head node)")
TOKEN_ROLE = Qt.ItemDataRole.UserRole + 1  # on a row's name cell: the token typed here ("" = remove it), not saved yet


class SettingsDialog(QDialog):
    """Edit ``settings``; ``result_settings`` holds the valid result once OK is clicked (secrets: see
    ``channels_editor.secret_updates()`` and ``model_tab.secret_updates()``)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, theme: Theme = DARK) -> None:
        super().__init__(parent)
        self._settings = settings
        self._theme = theme
        self.result_settings: Settings | None = None
        self._stored_tokens: set[str] = set()
        self._setup_ui()
        for node in settings.nodes:
            self._append_row(node.name, node.url, node.logs_url, node.slurm_url)

    def _setup_ui(self) -> None:
        self.setWindowTitle("Settings")
        self.resize(760, 480)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._general_tab(), "General")
        self.tabs.addTab(self._nodes_tab(), "Nodes")
        self.channels_editor = ChannelsEditor(self._settings.channels, self._theme)
        self.tabs.addTab(self.channels_editor, "Notifications")
        self.model_tab = ModelSettingsTab(self._settings.llm, self._theme)
        self.tabs.addTab(self.model_tab, "Model")
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {self._theme.crit}")
        self.error_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_ok_clicked)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def show_tab(self, name: str) -> None:
        """Bring the tab with this title to the front (no change for "" or an unknown name)."""
        for i in range(self.tabs.count()):
            if name and self.tabs.tabText(i) == name:
                self.tabs.setCurrentIndex(i)

    def _general_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.interval_spin = _seconds_spin(self._settings.poll_interval_s, 0.5, 3600)
        self.timeout_spin = _seconds_spin(self._settings.scrape_timeout_s, 0.1, 3600)
        self.theme_combo = QComboBox()
        self.theme_combo.addItems(["dark", "light"])
        self.theme_combo.setCurrentText(self._settings.theme)
        self.tray_check = QCheckBox("Keep running in the system tray when the window is closed")
        self.tray_check.setChecked(self._settings.close_to_tray)
        form.addRow("Poll interval", self.interval_spin)
        form.addRow("Scrape timeout per node", self.timeout_spin)
        form.addRow("Theme (applies on restart)", self.theme_combo)
        form.addRow("", self.tray_check)
        return tab

    def _nodes_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        hint = QLabel("Per node: a name and the URL of its GPU exporter (dcgm-exporter compatible). Optional: its "
                      "pod log server (http://host:8002) and, on the Slurm head node only, its Slurm exporter "
                      "(http://host:9341).")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.nodes_table = QTableWidget(0, len(NODE_COLUMNS))
        self.nodes_table.setHorizontalHeaderLabels(list(NODE_COLUMNS))
        for column in range(1, len(NODE_COLUMNS)):
            self.nodes_table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.nodes_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        layout.addWidget(self.nodes_table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add node")
        self.remove_button = QPushButton("Remove selected")
        self.token_button = QPushButton("Access token…")
        self.token_button.setToolTip("The pod's GPUWATCH_POD_TOKEN, sent to all its services; kept in the keyring")
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.token_button.clicked.connect(self._on_token_clicked)
        self.nodes_table.itemSelectionChanged.connect(self._show_token_state)
        for button in (self.add_button, self.remove_button, self.token_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.token_label = QLabel()
        layout.addWidget(self.token_label)
        return tab

    def show_stored_tokens(self, nodes: Collection[str]) -> None:
        """Which nodes have a token in the keyring (read by the controller off the GUI thread)."""
        self._stored_tokens = set(nodes)
        self._show_token_state()

    def set_token(self, row: int, token: str) -> None:
        """Keep ``token`` for the node in ``row`` until OK ("" removes the stored one)."""
        item = self.nodes_table.item(row, 0)
        if item is not None:
            item.setData(TOKEN_ROLE, token.strip())
        self._show_token_state()

    def node_token_updates(self) -> dict[str, str | None]:
        """Keyring name -> new token (None = delete) for the tokens typed in this dialog."""
        updates: dict[str, str | None] = {}
        for row in range(self.nodes_table.rowCount()):
            item = self.nodes_table.item(row, 0)
            token = item.data(TOKEN_ROLE) if item is not None else None
            if item is not None and token is not None and item.text().strip():
                updates[node_token_secret_name(item.text().strip())] = token or None
        return updates

    def _on_token_clicked(self) -> None:
        row = self.nodes_table.currentRow()
        item = self.nodes_table.item(row, 0) if row >= 0 else None
        if item is None:
            self.token_label.setText("Select a node first.")
            return
        token, ok = QInputDialog.getText(
            self, "Access token", f"Access token of {item.text()} (the pod's GPUWATCH_POD_TOKEN).\n"
            "It is kept in the system keyring. Leave empty to remove it.", QLineEdit.EchoMode.Password)
        if ok:
            self.set_token(row, token)

    def _show_token_state(self) -> None:
        item = self.nodes_table.item(self.nodes_table.currentRow(), 0) if self.nodes_table.currentRow() >= 0 else None
        if item is None:
            self.token_label.setText("")
            return
        pending, name = item.data(TOKEN_ROLE), item.text().strip()
        if pending is not None:
            state = "will be saved on OK" if pending else "will be removed on OK"
        else:
            state = "stored in the keyring" if name in self._stored_tokens else "none (the node's services are open)"
        self.token_label.setText(f"Access token of {name}: {state}")

    def _append_row(self, *texts: str) -> None:
        """A node row: name, metrics URL, then the optional log server and Slurm URLs."""
        row = self.nodes_table.rowCount()
        self.nodes_table.insertRow(row)
        for column in range(len(NODE_COLUMNS)):
            self.nodes_table.setItem(row, column, QTableWidgetItem(texts[column] if column < len(texts) else ""))

    def _on_add_clicked(self) -> None:
        self._append_row(f"node-{self.nodes_table.rowCount() + 1}", "http://127.0.0.1:9400/metrics")
        item = self.nodes_table.item(self.nodes_table.rowCount() - 1, 0)
        if item is not None:
            self.nodes_table.editItem(item)

    def _on_remove_clicked(self) -> None:
        for row in sorted({i.row() for i in self.nodes_table.selectedIndexes()}, reverse=True):
            self.nodes_table.removeRow(row)

    def edited_settings(self) -> Settings:
        nodes = []
        for row in range(self.nodes_table.rowCount()):
            texts = [(item.text() if item else "").strip()
                     for item in (self.nodes_table.item(row, c) for c in range(len(NODE_COLUMNS)))]
            nodes.append(NodeConfig(*texts))
        return replace(
            self._settings, nodes=tuple(nodes), poll_interval_s=self.interval_spin.value(),
            scrape_timeout_s=self.timeout_spin.value(), theme=self.theme_combo.currentText(),
            close_to_tray=self.tray_check.isChecked(), channels=self.channels_editor.channels(),
            llm=self.model_tab.edited_config(),
        )

    def _on_ok_clicked(self) -> None:
        settings = self.edited_settings()
        try:
            settings.validate()
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return
        self.result_settings = settings
        self.accept()


def _seconds_spin(value: float, low: float, high: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(1)
    spin.setSuffix(" s")
    spin.setValue(value)
    return spin
