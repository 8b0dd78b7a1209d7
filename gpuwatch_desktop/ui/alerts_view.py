"""The Alerts view: the rules table, the active alerts and the event history, in three tabs.

The view has no async code and changes nothing itself: every change is a ``...Requested`` signal that
``AlertsController`` carries out, calling back ``show_*`` with what the service then holds.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertRule, AlertState, Silence
from gpuwatch_desktop.ui.alerts_panels import (
    ActiveAlertsPanel,
    EventHistoryPanel,
    reselect,
    selected_rows,
    setup_table,
)
from gpuwatch_desktop.ui.alerts_rows import RULE_HEADERS, CellTableModel, rule_rows
from gpuwatch_desktop.ui.rule_editor import RuleEditorDialog
from gpuwatch_desktop.ui.tables import CopyableTableView
from gpuwatch_desktop.ui.theme import Theme

RULE_FILE_FILTER = "Rule files (*.yaml *.yml *.json)"
EXPORT_FILTERS = "YAML (*.yaml *.yml);;JSON (*.json)"


class AlertsView(QWidget):
    ruleSaveRequested = Signal(object)  # AlertRule: new, edited, duplicated or enable toggled
    ruleDeleteRequested = Signal(str)  # rule id, after the user confirmed
    rulesImportRequested = Signal(object)  # Path of a .yaml/.yml/.json rule file
    rulesExportRequested = Signal(object)  # Path to write every rule to
    previewRequested = Signal(object)  # AlertRule from the open editor; answer with show_preview
    acknowledgeRequested = Signal(object)  # SeriesKey
    silenceRequested = Signal(object)  # Silence
    silenceExpireRequested = Signal(str)  # silence id
    eventsRequested = Signal(object)  # EventQuery; answer with show_events

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.rules: list[AlertRule] = []
        self.alerts: list[ActiveAlert] = []
        self.nodes: list[str] = []
        self.editor: RuleEditorDialog | None = None
        self._setup_ui()

    def _setup_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self._message_bar())
        self.tabs = QTabWidget()
        self.tabs.addTab(self._rules_tab(), "Rules")
        self.active_panel = ActiveAlertsPanel(self._theme)
        self.history_panel = EventHistoryPanel(self._theme)
        self.tabs.addTab(self.active_panel, "Active")
        self.tabs.addTab(self.history_panel, "History")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        layout.addWidget(self.tabs, 1)
        self.active_panel.acknowledgeRequested.connect(self.acknowledgeRequested)
        self.active_panel.silenceRequested.connect(self.silenceRequested)
        self.active_panel.silenceExpireRequested.connect(self.silenceExpireRequested)
        self.history_panel.eventsRequested.connect(self.eventsRequested)

    def _message_bar(self) -> QWidget:
        self.message_bar = QWidget()
        row = QHBoxLayout(self.message_bar)
        row.setContentsMargins(8, 4, 4, 4)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.message_bar.hide)
        row.addWidget(self.message_label, 1)
        row.addWidget(close)
        self.message_bar.hide()
        return self.message_bar

    def _rules_tab(self) -> QWidget:
        tab = QWidget()
        buttons = QHBoxLayout()
        self.new_button, self.edit_button = QPushButton("New…"), QPushButton("Edit…")
        self.duplicate_button, self.delete_button = QPushButton("Duplicate…"), QPushButton("Delete")
        self.import_button, self.export_button = QPushButton("Import…"), QPushButton("Export…")
        for button, slot in ((self.new_button, self._on_new_clicked), (self.edit_button, self._on_edit_clicked),
                             (self.duplicate_button, self._on_duplicate_clicked),
                             (self.delete_button, self._on_delete_clicked),
                             (self.import_button, self._on_import_clicked),
                             (self.export_button, self._on_export_clicked)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
            if button is self.delete_button:
                buttons.addStretch(1)
        self.rule_model = CellTableModel(RULE_HEADERS, check_column=0, numeric_headers=("Value",), parent=self)
        self.rule_model.checkToggled.connect(self._on_enabled_toggled)
        self.rule_table = CopyableTableView(self.rule_model)
        setup_table(self.rule_table, "Condition")  # in the stored order until a header is clicked
        self.rule_table.doubleClicked.connect(self._on_rule_double_clicked)
        self.rule_table.selectionModel().selectionChanged.connect(self._update_rule_buttons)
        layout = QVBoxLayout(tab)
        layout.addLayout(buttons)
        layout.addWidget(self.rule_table)
        self._update_rule_buttons()
        return tab

    # ---- what the controller shows ----------------------------------------------------------

    def show_rules(self, rules: Sequence[AlertRule]) -> None:
        self.rules = list(rules)
        self._render_rules()
        self.history_panel.set_choices(self.rules, self.nodes)
        self.active_panel.show_alerts(self.alerts, self._rules_by_id())

    def show_alerts(self, alerts: Sequence[ActiveAlert]) -> None:
        self.alerts = list(alerts)
        self._render_rules()
        self.active_panel.show_alerts(self.alerts, self._rules_by_id())
        firing = sum(1 for a in self.alerts if a.state is AlertState.FIRING)
        pending = sum(1 for a in self.alerts if a.state is AlertState.PENDING)
        counts = [f"{n} {what}" for n, what in ((firing, "firing"), (pending, "pending")) if n]
        other = len(self.alerts) - firing - pending
        counts += [f"{other} without data"] if other else []
        self.tabs.setTabText(1, f"Active ({', '.join(counts)})" if counts else "Active")

    def set_nodes(self, nodes: Sequence[str]) -> None:
        self.nodes = list(nodes)
        self.history_panel.set_choices(self.rules, self.nodes)

    def show_silences(self, silences: Sequence[Silence]) -> None:
        self.active_panel.show_silences(silences, self._rules_by_id())

    def show_events(self, events: Sequence[AlertEvent]) -> None:
        self.history_panel.show_events(events, self._rules_by_id())

    def show_preview(self, rule: AlertRule, text: str) -> None:
        if self.editor is not None:
            self.editor.show_preview(rule, text)

    def show_error(self, text: str) -> None:
        self._show_message(text, self._theme.crit)

    def show_message(self, text: str) -> None:
        self._show_message(text, self._theme.accent)

    def _show_message(self, text: str, color: str) -> None:
        self.message_label.setText(text)
        self.message_bar.setStyleSheet(f"QWidget {{ border-left: 3px solid {color}; }}"
                                       f" QLabel, QToolButton {{ border: none; color: {color}; }}")
        self.message_bar.show()

    def _rules_by_id(self) -> dict[str, AlertRule]:
        return {r.id: r for r in self.rules}

    def _render_rules(self) -> None:
        wanted: set[Hashable] = {r.id for r in self.selected_rules()}
        self.rule_model.set_rows(rule_rows(self.rules, self.alerts, self._theme))
        reselect(self.rule_table, wanted, lambda row: self.rules[row].id)
        self._update_rule_buttons()

    # ---- rules tab ------------------------------------------------------------------------------

    def selected_rules(self) -> list[AlertRule]:
        return [self.rules[row] for row in selected_rows(self.rule_table) if row < len(self.rules)]

    def _update_rule_buttons(self) -> None:
        one = len(self.selected_rules()) == 1
        for button in (self.edit_button, self.duplicate_button, self.delete_button):
            button.setEnabled(one)
        self.export_button.setEnabled(bool(self.rules))

    def open_editor(self, rule: AlertRule | None) -> RuleEditorDialog:
        """Open the editor for ``rule`` (None or an empty id: a new rule); saving emits ruleSaveRequested."""
        if self.editor is not None:
            self.editor.reject()
        dialog = RuleEditorDialog(rule, self.nodes, [r.id for r in self.rules], self._theme, self)
        dialog.previewRequested.connect(self.previewRequested)
        dialog.accepted.connect(lambda: self.ruleSaveRequested.emit(dialog.result_rule))
        dialog.finished.connect(lambda _result: self._on_editor_finished(dialog))
        self.editor = dialog
        dialog.open()
        return dialog

    def _on_editor_finished(self, dialog: RuleEditorDialog) -> None:
        if self.editor is dialog:
            self.editor = None
        dialog.deleteLater()

    def _on_new_clicked(self) -> None:
        self.open_editor(None)

    def _on_edit_clicked(self) -> None:
        chosen = self.selected_rules()
        if chosen:
            self.open_editor(chosen[0])

    def _on_rule_double_clicked(self, index: QModelIndex) -> None:
        if index.column() != 0:
            self._on_edit_clicked()

    def _on_duplicate_clicked(self) -> None:
        chosen = self.selected_rules()
        if chosen:
            self.open_editor(replace(chosen[0], id="", name=f"{chosen[0].name} (copy)"))

    def _on_delete_clicked(self) -> None:
        chosen = self.selected_rules()
        if not chosen:
            return
        rule = chosen[0]
        answer = QMessageBox.question(
            self, "Delete alert rule",
            f"Delete the rule “{rule.name}”?\nIts alerts end now; its past events stay in the history.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.ruleDeleteRequested.emit(rule.id)

    def _on_enabled_toggled(self, row: int, enabled: bool) -> None:
        rule = self.rules[row]
        if rule.enabled != enabled:
            self.ruleSaveRequested.emit(replace(rule, enabled=enabled))

    def _on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import alert rules", "", RULE_FILE_FILTER)
        if path:
            self.rulesImportRequested.emit(Path(path))

    def _on_export_clicked(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export alert rules", "alert-rules.yaml", EXPORT_FILTERS)
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() not in (".yaml", ".yml", ".json"):
            target = target.with_name(target.name + (".json" if chosen.startswith("JSON") else ".yaml"))
        self.rulesExportRequested.emit(target)

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history_panel:
            self.history_panel.request()
