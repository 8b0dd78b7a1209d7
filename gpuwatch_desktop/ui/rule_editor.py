"""The alert rule editor: every field of an ``AlertRule``, checked as you type, with a live preview."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from enum import Enum
from typing import Any, TypeVar

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertRule,
    Comparator,
    LabelMatcher,
    MissingPolicy,
    RuleKind,
    Scope,
    Severity,
    validate_rule,
)
from gpuwatch_desktop.core.metrics import ALERT_METRICS_BY_KEY
from gpuwatch_desktop.ui.rule_text import (
    new_rule_id,
    read_duration,
    read_labels,
    read_matchers,
    read_number,
    read_optional_number,
    show_duration,
    show_labels,
    show_matchers,
    show_number,
)
from gpuwatch_desktop.ui.theme import Theme

T = TypeVar("T")
PREVIEW_DELAY_MS = 500
PLACEHOLDER_HINT = "Placeholders: {rule} {node} {gpu} {value} {threshold} {unit} {cost}"
KIND_CHOICES = {RuleKind.THRESHOLD: "Threshold on a metric", RuleKind.NODE_DOWN: "Node down / stale",
                RuleKind.XID: "XID error", RuleKind.IDLE: "Idle GPU"}
POLICY_CHOICES = {MissingPolicy.STATE: "show as no data / error", MissingPolicy.ALERTING: "treat as firing",
                  MissingPolicy.OK: "treat as OK", MissingPolicy.KEEP_LAST: "keep the last state"}
_SCOPE = {"node", "scope", "for_s", "keep_firing_s"}
_GPU_SCOPE = _SCOPE | {"gpu", "window_s", "no_data", "on_error"}
# The fields each kind uses (besides name, kind, severity, labels, description and enabled).
KIND_FIELDS: dict[RuleKind, set[str]] = {
    RuleKind.THRESHOLD: _GPU_SCOPE | {"metric", "aggregation", "comparator", "threshold", "clear_threshold"},
    RuleKind.NODE_DOWN: _SCOPE,
    RuleKind.XID: _GPU_SCOPE,
    RuleKind.IDLE: _GPU_SCOPE | {"threshold"},
}
ALL_FIELDS = ("name", "kind", "metric", "node", "gpu", "scope", "aggregation", "window_s", "comparator", "threshold",
              "clear_threshold", "for_s", "keep_firing_s", "severity", "labels", "description", "no_data",
              "on_error", "enabled")


def _combo(choices: dict[Enum, str] | Sequence[Enum]) -> QComboBox:
    combo = QComboBox()
    items = choices.items() if isinstance(choices, dict) else ((c, str(c.value)) for c in choices)
    for member, text in items:
        combo.addItem(text, member)
    return combo


def _select(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    combo.setCurrentIndex(max(index, 0))


def metric_text(key: str) -> str:
    spec = ALERT_METRICS_BY_KEY.get(key)
    if spec is None:
        return f"{key} (unknown metric)"
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


class RuleEditorDialog(QDialog):
    """Edit ``rule``; None or a rule with an empty id is a new rule (the id is made from its name).

    ``result_rule`` holds the rule to save once the dialog is accepted; OK is refused while a field is invalid.
    """

    previewRequested = Signal(object)  # AlertRule: a valid rule, PREVIEW_DELAY_MS after the last edit

    def __init__(self, rule: AlertRule | None, nodes: Sequence[str], taken_ids: Collection[str], theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = rule or AlertRule(id="", name="", threshold=85.0)
        self.is_new = not self._base.id
        self._taken = set(taken_ids)
        self._theme = theme
        self._rows: dict[str, QWidget] = {}
        self._error_labels: dict[str, QLabel] = {}
        self._preview_rule: AlertRule | None = None
        self.errors: dict[str, str] = {}
        self.result_rule: AlertRule | None = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._on_preview_timer)
        self._setup_ui(nodes)
        self._fill(self._base)
        self._connect_edits()
        self._on_edited()

    # ---- building ------------------------------------------------------------------------

    def _setup_ui(self, nodes: Sequence[str]) -> None:
        self.setWindowTitle("New alert rule" if self.is_new else f"Edit alert rule — {self._base.name}")
        self.resize(660, 720)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._make_inputs(nodes)
        for key, label, widget in self._form_rows():
            self._add_row(key, label, widget)
        body = QWidget()
        body.setLayout(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.general_error = QLabel()
        self.general_error.setStyleSheet(f"color: {self._theme.crit}")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        preview_box = QGroupBox("Preview: the last hour of stored history")
        self.preview_label = QLabel("Waiting for the edits to settle…")
        self.preview_label.setWordWrap(True)
        QVBoxLayout(preview_box).addWidget(self.preview_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save rule")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.general_error)
        layout.addWidget(preview_box)
        layout.addWidget(self.buttons)

    def _make_inputs(self, nodes: Sequence[str]) -> None:
        self.name_edit = QLineEdit()
        self.kind_combo = _combo(KIND_CHOICES)  # type: ignore[arg-type]
        self.metric_combo = QComboBox()
        for key in ALERT_METRICS_BY_KEY:
            self.metric_combo.addItem(metric_text(key), key)
        self.node_combo = QComboBox()
        self.node_combo.addItem("all nodes", None)
        for node in sorted({*nodes, *([self._base.scope.node] if self._base.scope.node else [])}):
            self.node_combo.addItem(node, node)
        self.gpu_spin = QSpinBox()
        self.gpu_spin.setRange(-1, 255)
        self.gpu_spin.setSpecialValueText("all GPUs")
        self.gpu_spin.setPrefix("GPU ")
        self.matchers_edit = QLineEdit()
        self.matchers_edit.setPlaceholderText("model=~H100.*, hostname!=gpu-7  (labels: node gpu hostname model uuid)")
        self.aggregation_combo = _combo(list(Aggregation))
        self.window_edit, self.for_edit, self.keep_edit = QLineEdit(), QLineEdit(), QLineEdit()
        for edit, hint in ((self.window_edit, "5m"), (self.for_edit, "1m (blank: at once)"),
                           (self.keep_edit, "0s")):
            edit.setPlaceholderText(hint)
        self.comparator_combo = _combo(list(Comparator))
        self.threshold_edit, self.clear_edit = QLineEdit(), QLineEdit()
        self.clear_edit.setPlaceholderText("blank: clears when the condition no longer holds")
        self.threshold_unit, self.clear_unit = QLabel(), QLabel()
        self.severity_combo = _combo(list(Severity))
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("team=ml, pager=yes")
        self.description_edit = QLineEdit()
        self.no_data_combo = _combo(POLICY_CHOICES)  # type: ignore[arg-type]
        self.on_error_combo = _combo(POLICY_CHOICES)  # type: ignore[arg-type]
        self.enabled_check = QCheckBox("Evaluate this rule")

    def _form_rows(self) -> list[tuple[str, str, QWidget]]:
        hint = QLabel(PLACEHOLDER_HINT)
        hint.setStyleSheet(f"color: {self._theme.muted}")
        return [
            ("name", "Name", self.name_edit), ("kind", "Kind", self.kind_combo),
            ("metric", "Metric", self.metric_combo), ("node", "Node", self.node_combo),
            ("gpu", "GPU", self.gpu_spin), ("scope", "Label matchers", self.matchers_edit),
            ("aggregation", "Aggregation", self.aggregation_combo), ("window_s", "Window", self.window_edit),
            ("comparator", "Comparator", self.comparator_combo),
            ("threshold", "Threshold", self._with_suffix(self.threshold_edit, self.threshold_unit)),
            ("clear_threshold", "Clear threshold", self._with_suffix(self.clear_edit, self.clear_unit)),
            ("for_s", "For", self.for_edit), ("keep_firing_s", "Keep firing", self.keep_edit),
            ("severity", "Severity", self.severity_combo), ("labels", "Labels", self.labels_edit),
            ("description", "Description", self._stacked(self.description_edit, hint)),
            ("no_data", "No data", self.no_data_combo), ("on_error", "Node unreachable", self.on_error_combo),
            ("enabled", "Enabled", self.enabled_check),
        ]

    @staticmethod
    def _with_suffix(edit: QLineEdit, unit: QLabel) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(unit)
        return box

    @staticmethod
    def _stacked(*widgets: QWidget) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        for widget in widgets:
            column.addWidget(widget)
        return box

    def _add_row(self, key: str, label: str, widget: QWidget) -> None:
        error = QLabel()
        error.setObjectName(f"error_{key}")
        error.setStyleSheet(f"color: {self._theme.crit}")
        error.setWordWrap(True)
        error.hide()
        field = self._stacked(widget, error)
        self._error_labels[key] = error
        self._rows[key] = field
        self.form.addRow(label, field)

    def _fill(self, rule: AlertRule) -> None:
        self.name_edit.setText(rule.name)
        _select(self.kind_combo, rule.kind)
        if self.metric_combo.findData(rule.metric) < 0:
            self.metric_combo.addItem(metric_text(rule.metric), rule.metric)
        _select(self.metric_combo, rule.metric)
        _select(self.node_combo, rule.scope.node)
        self.gpu_spin.setValue(-1 if rule.scope.gpu is None else rule.scope.gpu)
        self.matchers_edit.setText(show_matchers(rule.scope.matchers))
        _select(self.aggregation_combo, rule.aggregation)
        self.window_edit.setText(show_duration(rule.window_s))
        _select(self.comparator_combo, rule.comparator)
        self.threshold_edit.setText(show_number(rule.threshold))
        self.clear_edit.setText(show_number(rule.clear_threshold))
        self.for_edit.setText(show_duration(rule.for_s) if rule.for_s else "")
        self.keep_edit.setText(show_duration(rule.keep_firing_s) if rule.keep_firing_s else "")
        _select(self.severity_combo, rule.severity)
        self.labels_edit.setText(show_labels(rule.labels))
        self.description_edit.setText(rule.description)
        self.description_edit.setCursorPosition(0)
        _select(self.no_data_combo, rule.no_data)
        _select(self.on_error_combo, rule.on_error)
        self.enabled_check.setChecked(rule.enabled)

    def _connect_edits(self) -> None:
        for edit in (self.name_edit, self.matchers_edit, self.window_edit, self.threshold_edit, self.clear_edit,
                     self.for_edit, self.keep_edit, self.labels_edit, self.description_edit):
            edit.textChanged.connect(self._on_edited)
        for combo in (self.kind_combo, self.metric_combo, self.node_combo, self.aggregation_combo,
                      self.comparator_combo, self.severity_combo, self.no_data_combo, self.on_error_combo):
            combo.currentIndexChanged.connect(self._on_edited)
        self.gpu_spin.valueChanged.connect(self._on_edited)
        self.enabled_check.toggled.connect(self._on_edited)

    # ---- reading -------------------------------------------------------------------------

    @property
    def kind(self) -> RuleKind:
        kind: RuleKind = self.kind_combo.currentData()
        return kind

    def visible_fields(self) -> set[str]:
        always = {"name", "kind", "severity", "labels", "description", "enabled"}
        return always | KIND_FIELDS[self.kind]

    def _read(self, errors: dict[str, str], key: str, read: Callable[[], T], fallback: T) -> T:
        """``read()`` for a field the kind shows, else ``fallback``; a ValueError becomes the field's message."""
        if key not in self.visible_fields():
            return fallback
        try:
            return read()
        except ValueError as exc:
            errors[key] = str(exc)
            return fallback

    def collect(self) -> tuple[AlertRule | None, dict[str, str]]:
        """The rule the fields describe (None while invalid) and field -> what is wrong."""
        errors: dict[str, str] = {}
        base, name = self._base, self.name_edit.text().strip()
        rule = AlertRule(
            id=base.id or new_rule_id(name, self._taken), name=name, kind=self.kind,
            metric=self.metric_combo.currentData(), scope=self._scope(errors), **self._condition(errors),
            for_s=self._read(errors, "for_s", lambda: read_duration(self.for_edit.text()), base.for_s),
            keep_firing_s=self._read(errors, "keep_firing_s", lambda: read_duration(self.keep_edit.text()),
                                     base.keep_firing_s),
            severity=self.severity_combo.currentData(),
            labels=self._read(errors, "labels", lambda: read_labels(self.labels_edit.text()), ()),
            description=self.description_edit.text(),
            no_data=self.no_data_combo.currentData(), on_error=self.on_error_combo.currentData(),
            enabled=self.enabled_check.isChecked(),
        )
        for key, why in validate_rule(rule).items():
            errors.setdefault(key, why)
        return (None if errors else rule), errors

    def _condition(self, errors: dict[str, str]) -> dict[str, Any]:
        """Aggregation, window, comparator and thresholds; what the kind does not use keeps a neutral value."""
        threshold_kind = self.kind is RuleKind.THRESHOLD
        return {
            "aggregation": self.aggregation_combo.currentData() if threshold_kind else Aggregation.LAST,
            "window_s": self._read(errors, "window_s", lambda: read_duration(self.window_edit.text(), None),
                                   self._base.window_s),
            "comparator": self.comparator_combo.currentData() if threshold_kind else Comparator.GT,
            "threshold": self._read(errors, "threshold", lambda: read_number(self.threshold_edit.text()),
                                    self._base.threshold),
            "clear_threshold": self._read(errors, "clear_threshold",
                                          lambda: read_optional_number(self.clear_edit.text()), None),
        }

    def _scope(self, errors: dict[str, str]) -> Scope:
        none: tuple[LabelMatcher, ...] = ()
        matchers = self._read(errors, "scope", lambda: read_matchers(self.matchers_edit.text()), none)
        gpu = self.gpu_spin.value() if "gpu" in self.visible_fields() else -1
        return Scope(self.node_combo.currentData(), None if gpu < 0 else gpu, matchers)

    def error_text(self, key: str) -> str:
        """The message shown next to field ``key`` ("" when it is fine)."""
        label = self._error_labels[key]
        return label.text() if not label.isHidden() else ""

    def is_field_shown(self, key: str) -> bool:
        return self.form.isRowVisible(self._rows[key])

    # ---- reacting ------------------------------------------------------------------------

    def _on_edited(self) -> None:
        shown = self.visible_fields()
        for key in ALL_FIELDS:
            self.form.setRowVisible(self._rows[key], key in shown)
        self._update_units()
        _, self.errors = self.collect()
        for key, label in self._error_labels.items():
            label.setText(self.errors.get(key, ""))
            label.setVisible(key in self.errors)
        elsewhere = [f"{k}: {v}" for k, v in self.errors.items() if k not in self._error_labels or k not in shown]
        self.general_error.setText("\n".join(elsewhere))
        self.general_error.setVisible(bool(elsewhere))
        self.ok_button.setEnabled(not self.errors)
        self._preview_timer.start()

    def _update_units(self) -> None:
        idle = self.kind is RuleKind.IDLE
        spec = ALERT_METRICS_BY_KEY.get(self.metric_combo.currentData() or "")
        unit = "%" if idle else (spec.unit if spec else "")
        self.threshold_unit.setText(unit)
        self.clear_unit.setText(unit)
        threshold_label = self.form.labelForField(self._rows["threshold"])
        window_label = self.form.labelForField(self._rows["window_s"])
        if isinstance(threshold_label, QLabel) and isinstance(window_label, QLabel):
            threshold_label.setText("Utilisation under" if idle else "Threshold")
            latest = self.kind is RuleKind.THRESHOLD and self.aggregation_combo.currentData() is Aggregation.LAST
            window_label.setText("Idle for" if idle else "Look back (newest value)" if latest else "Window")

    def _on_preview_timer(self) -> None:
        rule, _ = self.collect()
        self._preview_rule = rule
        if rule is None:
            self.preview_label.setText("Fix the fields marked in red to see a preview.")
            return
        self.preview_label.setText("Replaying the last hour…")
        self.previewRequested.emit(rule)

    def show_preview(self, rule: AlertRule, text: str) -> None:
        """Show a preview's outcome, unless the fields changed since it was asked for."""
        if rule == self._preview_rule:
            self.preview_label.setText(text)

    def accept(self) -> None:
        rule, self.errors = self.collect()
        if rule is None:
            self._on_edited()
            return
        self.result_rule = rule
        super().accept()
