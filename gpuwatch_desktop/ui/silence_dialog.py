"""A small dialog that silences an alert's rule and/or node for a while, with a reason."""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.alerts import Silence
from gpuwatch_desktop.ui.rule_text import read_duration
from gpuwatch_desktop.ui.theme import Theme

DURATIONS: tuple[tuple[str, float | None], ...] = (
    ("1 hour", 3600.0), ("4 hours", 4 * 3600.0), ("24 hours", 86400.0), ("Custom…", None),
)


class SilenceDialog(QDialog):
    """Silence ``rule_id`` (named ``rule_name``) and/or ``node``; ``silence(now)`` builds the result once accepted."""

    def __init__(self, rule_id: str, rule_name: str, node: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rule_id, self.node = rule_id, node
        self.setWindowTitle("Silence alerts")
        self.setMinimumWidth(440)
        self.rule_check = QCheckBox(f"Rule: {rule_name}")
        self.node_check = QCheckBox(f"Node: {node}")
        self.rule_check.setChecked(True)
        self.node_check.setChecked(True)
        self.duration_combo = QComboBox()
        for text, seconds in DURATIONS:
            self.duration_combo.addItem(text, seconds)
        self.custom_edit = QLineEdit()
        self.custom_edit.setPlaceholderText("e.g. 90m, 2d")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("why (shown with the silence)")
        self.error_label = QLabel()
        self.error_label.setStyleSheet(f"color: {theme.crit}")
        self.error_label.setWordWrap(True)
        self._setup_ui()
        self._on_edited()

    def _setup_ui(self) -> None:
        form = QFormLayout()
        form.addRow("Silence", self.rule_check)
        form.addRow("", self.node_check)
        form.addRow("For", self.duration_combo)
        form.addRow("Custom duration", self.custom_edit)
        form.addRow("Reason", self.reason_edit)
        self.form = form
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Silence")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        note = QLabel("Silenced alerts are still evaluated and recorded; they are not notified.")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        for check in (self.rule_check, self.node_check):
            check.toggled.connect(self._on_edited)
        self.duration_combo.currentIndexChanged.connect(self._on_edited)
        self.custom_edit.textChanged.connect(self._on_edited)

    def duration_s(self) -> float:
        """The chosen duration; ValueError for a bad or zero custom one."""
        seconds: float | None = self.duration_combo.currentData()
        if seconds is None:
            seconds = read_duration(self.custom_edit.text(), None)
            if seconds <= 0:
                raise ValueError("a silence must last longer than 0 s")
        return seconds

    def problem(self) -> str:
        if not (self.rule_check.isChecked() or self.node_check.isChecked()):
            return "choose the rule, the node, or both"
        try:
            self.duration_s()
        except ValueError as exc:
            return str(exc)
        return ""

    def _on_edited(self) -> None:
        self.form.setRowVisible(self.custom_edit, self.duration_combo.currentData() is None)
        problem = self.problem()
        self.error_label.setText(problem)
        self.error_label.setVisible(bool(problem))
        self.ok_button.setEnabled(not problem)

    def accept(self) -> None:
        if not self.problem():
            super().accept()

    def silence(self, now: float) -> Silence:
        return Silence(
            id=uuid.uuid4().hex, rule_id=self.rule_id if self.rule_check.isChecked() else None,
            node=self.node if self.node_check.isChecked() else None, starts_at=now,
            ends_at=now + self.duration_s(), reason=self.reason_edit.text().strip(),
        )
