"""What the Alerts view's tables show: rule conditions in words, states, ages, and a styled row model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from gpuwatch_desktop.alerts.rules_file import format_matcher
from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    RuleKind,
    Severity,
    Silence,
    effective_metric,
)
from gpuwatch_desktop.core.metrics import ALERT_METRICS_BY_KEY
from gpuwatch_desktop.ui.rule_text import show_duration
from gpuwatch_desktop.ui.tables import RowTableModel
from gpuwatch_desktop.ui.theme import Theme

_Index = QModelIndex | QPersistentModelIndex

KIND_TEXT = {RuleKind.THRESHOLD: "threshold", RuleKind.NODE_DOWN: "node down", RuleKind.XID: "XID error",
             RuleKind.IDLE: "idle GPU"}
STATE_TEXT = {AlertState.INACTIVE: "OK", AlertState.PENDING: "pending", AlertState.FIRING: "firing",
              AlertState.RESOLVED: "resolved", AlertState.NO_DATA: "no data", AlertState.ERROR: "error"}
# How bad a state is, for a rule's worst series and for sorting.
STATE_RANK = {AlertState.INACTIVE: 0, AlertState.RESOLVED: 0, AlertState.NO_DATA: 1, AlertState.ERROR: 2,
              AlertState.PENDING: 3, AlertState.FIRING: 4}


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: the text shown (and copied), what it sorts by, and an optional colour."""

    text: str
    sort: Any = None  # None: sort by the text
    color: str | None = None


class CellTableModel(RowTableModel):
    """Rows of ``Cell``; ``check_column`` shows a checkbox whose clicks emit ``checkToggled`` (row, checked).

    Cells of ``numeric_headers`` columns are right-aligned.
    """

    checkToggled = Signal(int, bool)

    def __init__(self, headers: Sequence[str], check_column: int | None = None,
                 numeric_headers: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(headers, parent)
        self.check_column = check_column
        self.numeric_columns = {self.headers.index(h) for h in numeric_headers}

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        cell: Cell = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell.text
        if role == Qt.ItemDataRole.UserRole:
            return cell.text if cell.sort is None else cell.sort
        if role == Qt.ItemDataRole.ForegroundRole and cell.color:
            return QColor(cell.color)
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell.text
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == self.check_column:
            return Qt.CheckState.Checked if cell.sort else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in self.numeric_columns:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == self.check_column:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != self.check_column:
            return False
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        self.checkToggled.emit(index.row(), checked)
        return False  # the row changes when the saved rule comes back

    def replace_column(self, column: int, cells: Sequence[Cell]) -> None:
        """New cells for one column (same rows), without a reset: selection and scroll position stay."""
        self.rows = [(*row[:column], cell, *row[column + 1:]) for row, cell in zip(self.rows, cells, strict=True)]
        if self.rows:
            self.dataChanged.emit(self.index(0, column), self.index(len(self.rows) - 1, column))


def severity_color(theme: Theme, severity: Severity) -> str:
    return {Severity.INFO: theme.accent, Severity.WARNING: theme.warn, Severity.CRITICAL: theme.crit}[severity]


def state_color(theme: Theme, state: AlertState) -> str:
    return {AlertState.FIRING: theme.crit, AlertState.PENDING: theme.warn, AlertState.INACTIVE: theme.ok,
            AlertState.RESOLVED: theme.ok}.get(state, theme.stale)


def value_text(rule_metric: str | None, value: float | None) -> str:
    if value is None:
        return "—"
    spec = ALERT_METRICS_BY_KEY.get(rule_metric or "")
    unit = f" {spec.unit}" if spec and spec.unit and spec.unit != "bitmask" else ""
    return f"{value:.4g}{unit}"


def condition_text(rule: AlertRule) -> str:
    """The rule's condition in words, e.g. "GPU temperature max(5m) > 85 °C for 1m"."""
    if rule.kind is RuleKind.NODE_DOWN:
        text = "node down or stale"
    elif rule.kind is RuleKind.XID:
        text = f"XID error reported in the last {show_duration(rule.window_s)}"
    elif rule.kind is RuleKind.IDLE:
        text = f"GPU utilisation under {rule.threshold:g} % for all of {show_duration(rule.window_s)}"
    else:
        spec = ALERT_METRICS_BY_KEY.get(rule.metric)
        label, unit = (spec.label, spec.unit) if spec else (rule.metric, "")
        how = "" if rule.aggregation.value == "last" else f" {rule.aggregation.value}({show_duration(rule.window_s)})"
        text = f"{label}{how} {rule.comparator.value} {rule.threshold:g}{f' {unit}' if unit else ''}"
        if rule.clear_threshold is not None:
            text += f" (clears at {rule.clear_threshold:g})"
    if rule.for_s > 0:
        text += f" for {show_duration(rule.for_s)}"
    if rule.keep_firing_s > 0:
        text += f", keeps firing {show_duration(rule.keep_firing_s)}"
    return text


def scope_text(rule: AlertRule) -> str:
    scope = rule.scope
    parts = [scope.node or "all nodes"]
    if rule.per_gpu:
        parts.append("all GPUs" if scope.gpu is None else f"GPU {scope.gpu}")
    parts += [format_matcher(m) for m in scope.matchers]
    return ", ".join(parts)


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def where_cell(node: str, gpu: int | None) -> Cell:
    """"node-1 GPU 3", sorted by node then GPU number."""
    if gpu is None:
        return Cell(node, node)
    return Cell(f"{node} GPU {gpu}", f"{node} GPU {gpu:04d}")


def rule_rows(rules: Sequence[AlertRule], alerts: Sequence[ActiveAlert], theme: Theme) -> list[tuple[Cell, ...]]:
    by_rule: dict[str, list[ActiveAlert]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.key.rule_id, []).append(alert)
    rows: list[tuple[Cell, ...]] = []
    for rule in rules:
        mine = by_rule.get(rule.id, [])
        worst = max(mine, key=lambda a: (STATE_RANK[a.state], a.value or 0.0), default=None)
        if not rule.enabled:
            state = Cell("disabled", -1, theme.stale)
        elif worst is None:
            state = Cell("OK", 0, theme.ok)
        else:
            count = sum(1 for a in mine if a.state is worst.state)
            state = Cell(f"{STATE_TEXT[worst.state]} ({count})", STATE_RANK[worst.state] * 1000 + count,
                         state_color(theme, worst.state))
        value = worst.value if worst else None
        rows.append((
            Cell("on" if rule.enabled else "off", rule.enabled), Cell(rule.name), Cell(KIND_TEXT[rule.kind]),
            Cell(condition_text(rule)), Cell(scope_text(rule)),
            Cell(rule.severity.value, rule.severity.rank, severity_color(theme, rule.severity)), state,
            Cell(value_text(effective_metric(rule), value), float("-inf") if value is None else value),
        ))
    return rows


RULE_HEADERS = ("On", "Name", "Kind", "Condition", "Scope", "Severity", "State", "Value")
ALERT_HEADERS = ("Severity", "State", "Rule", "Where", "Value", "Since", "Summary", "Marks")
EVENT_HEADERS = ("Time", "Rule", "Where", "State", "From", "Severity", "Value", "Summary")
SILENCE_HEADERS = ("Rule", "Node", "Ends", "Reason")


def _metric_of(rules: dict[str, AlertRule], rule_id: str) -> str | None:
    rule = rules.get(rule_id)
    return effective_metric(rule) if rule else None


def alert_rows(alerts: Sequence[ActiveAlert], rules: dict[str, AlertRule], theme: Theme,
               now: float) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for a in alerts:
        marks = ", ".join(m for m, on in (("silenced", a.silenced), ("acknowledged", a.acknowledged)) if on)
        rows.append((
            Cell(a.severity.value, a.severity.rank, severity_color(theme, a.severity)),
            Cell(STATE_TEXT[a.state], STATE_RANK[a.state], state_color(theme, a.state)),
            Cell(a.rule_name), where_cell(a.key.node, a.key.gpu),
            Cell(value_text(_metric_of(rules, a.key.rule_id), a.value), float("-inf") if a.value is None else a.value),
            age_cell(a, now), Cell(a.summary), Cell(marks),
        ))
    return rows


def age_cell(alert: ActiveAlert, now: float) -> Cell:
    return Cell(age_text(now - alert.since), now - alert.since)


def clock_text(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def event_rows(events: Sequence[AlertEvent], rules: dict[str, AlertRule], theme: Theme) -> list[tuple[Cell, ...]]:
    return [(
        Cell(clock_text(e.time), e.time), Cell(e.rule_name), where_cell(e.node, e.gpu),
        Cell(STATE_TEXT[e.state] + (" (silenced)" if e.silenced else ""), STATE_RANK[e.state],
             state_color(theme, e.state)),
        Cell(STATE_TEXT[e.previous]), Cell(e.severity.value, e.severity.rank, severity_color(theme, e.severity)),
        Cell(value_text(_metric_of(rules, e.rule_id), e.value), float("-inf") if e.value is None else e.value),
        Cell(e.summary),
    ) for e in events]


def silence_rows(silences: Sequence[Silence], rules: dict[str, AlertRule]) -> list[tuple[Cell, ...]]:
    def rule_name(rule_id: str | None) -> str:
        if rule_id is None:
            return "every rule"
        rule = rules.get(rule_id)
        return rule.name if rule else rule_id

    return [(Cell(rule_name(s.rule_id)), Cell(s.node or "every node"), Cell(clock_text(s.ends_at), s.ends_at),
             Cell(s.reason)) for s in silences]



@dataclass(frozen=True, slots=True)
class EventQuery:
    """The History tab's filters: events since ``since`` matching every filter given."""

    since: float
    states: tuple[AlertState, ...] | None = None
    severity: Severity | None = None
    rule_id: str | None = None
    node: str | None = None
    limit: int = 1000
