"""The Alerts view's second and third tabs: active alerts (with silences) and the event history."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertRule, AlertState, Severity, Silence
from gpuwatch_desktop.ui.alerts_rows import (
    ALERT_HEADERS,
    EVENT_HEADERS,
    SILENCE_HEADERS,
    STATE_TEXT,
    CellTableModel,
    EventQuery,
    age_cell,
    alert_rows,
    event_rows,
    silence_rows,
)
from gpuwatch_desktop.ui.silence_dialog import SilenceDialog
from gpuwatch_desktop.ui.tables import CopyableTableView
from gpuwatch_desktop.ui.theme import Theme

AGE_REFRESH_MS = 5000
RANGES: tuple[tuple[str, float], ...] = (("last hour", 3600.0), ("last 24 h", 86400.0), ("last 7 days", 7 * 86400.0))
_AGE_COLUMN = ALERT_HEADERS.index("Since")


def selected_rows(table: CopyableTableView) -> list[int]:
    """Source-model rows of the selected rows, in the order shown."""
    proxy = table.model()
    rows = {proxy.mapToSource(i).row() for i in table.selectionModel().selectedRows()}  # type: ignore[attr-defined]
    return sorted(rows, key=lambda r: proxy.mapFromSource(table.source_model.index(r, 0)).row())  # type: ignore[attr-defined]


def reselect(table: CopyableTableView, wanted: set[Hashable], key_of_row: Callable[[int], Hashable]) -> None:
    """Select again the rows whose key is in ``wanted`` (after the model was reset)."""
    proxy, selection = table.model(), table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(table.source_model.rowCount()):
        if key_of_row(row) in wanted:
            selection.select(proxy.mapFromSource(table.source_model.index(row, 0)), flags)  # type: ignore[attr-defined]


def setup_table(table: CopyableTableView, stretch: str, sort: str | None = None,
                order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
    """One line per row; columns fit their contents but ``stretch``, which takes the rest (its text elides).

    Sorted by ``sort`` at first; None keeps the model's own order until the user clicks a header.
    """
    table.setWordWrap(False)
    header = table.horizontalHeader()
    headers = table.source_model.headers
    for column, name in enumerate(headers):
        mode = QHeaderView.ResizeMode.Stretch if name == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)
    table.sortByColumn(-1 if sort is None else headers.index(sort), order)


def _button(text: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    return button


class ActiveAlertsPanel(QWidget):
    """Series pending, firing, without data or in error, and the silences in force."""

    acknowledgeRequested = Signal(object)  # SeriesKey
    silenceRequested = Signal(object)  # Silence
    silenceExpireRequested = Signal(str)  # silence id

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.alerts: list[ActiveAlert] = []
        self.silences: list[Silence] = []
        self._rules: dict[str, AlertRule] = {}
        self.silence_dialog: SilenceDialog | None = None
        self._setup_ui()
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._on_age_timer)
        self._age_timer.start()

    def _setup_ui(self) -> None:
        self.ack_button = _button("Acknowledge", self._on_ack_clicked)
        self.ack_button.setToolTip("Stop repeated notifications of the selected alerts until they resolve")
        self.silence_button = _button("Silence…", self._on_silence_clicked)
        self.expire_button = _button("End silence", self._on_expire_clicked)
        self.alert_model = CellTableModel(ALERT_HEADERS, numeric_headers=("Value", "Since"), parent=self)
        self.alert_table = CopyableTableView(self.alert_model)
        setup_table(self.alert_table, "Summary", "Severity", Qt.SortOrder.DescendingOrder)
        self.silence_model = CellTableModel(SILENCE_HEADERS, parent=self)
        self.silence_table = CopyableTableView(self.silence_model)
        setup_table(self.silence_table, "Reason", "Ends")
        self.empty_label = QLabel("No alerts are pending or firing.")
        top = QHBoxLayout()
        for widget in (self.ack_button, self.silence_button):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.empty_label)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        silence_bar = QHBoxLayout()
        silence_bar.addWidget(QLabel("<b>Silences</b> (notifications muted; alerts still recorded)"), 1)
        silence_bar.addWidget(self.expire_button)
        lower_layout.addLayout(silence_bar)
        lower_layout.addWidget(self.silence_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.alert_table)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(splitter)
        self.alert_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.silence_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def show_alerts(self, alerts: Sequence[ActiveAlert], rules: dict[str, AlertRule]) -> None:
        wanted: set[Hashable] = {a.key for a in self.selected_alerts()}
        self.alerts, self._rules = list(alerts), rules
        self.alert_model.set_rows(alert_rows(self.alerts, rules, self._theme, time.time()))
        reselect(self.alert_table, wanted, lambda row: self.alerts[row].key)
        self.empty_label.setVisible(not self.alerts)
        self._update_buttons()

    def show_silences(self, silences: Sequence[Silence], rules: dict[str, AlertRule]) -> None:
        self.silences = list(silences)
        self.silence_model.set_rows(silence_rows(self.silences, rules))
        self._update_buttons()

    def selected_alerts(self) -> list[ActiveAlert]:
        return [self.alerts[row] for row in selected_rows(self.alert_table)]

    def _update_buttons(self) -> None:
        chosen = self.selected_alerts()
        self.ack_button.setEnabled(any(not a.acknowledged for a in chosen))
        self.silence_button.setEnabled(len(chosen) == 1)
        self.expire_button.setEnabled(bool(selected_rows(self.silence_table)))

    def _on_age_timer(self) -> None:
        now = time.time()
        self.alert_model.replace_column(_AGE_COLUMN, [age_cell(a, now) for a in self.alerts])

    def _on_ack_clicked(self) -> None:
        for alert in self.selected_alerts():
            if not alert.acknowledged:
                self.acknowledgeRequested.emit(alert.key)

    def _on_silence_clicked(self) -> None:
        chosen = self.selected_alerts()
        if len(chosen) != 1:
            return
        alert = chosen[0]
        dialog = SilenceDialog(alert.key.rule_id, alert.rule_name, alert.key.node, self._theme, self)
        dialog.accepted.connect(lambda: self.silenceRequested.emit(dialog.silence(time.time())))
        dialog.finished.connect(self._on_silence_dialog_finished)
        self.silence_dialog = dialog
        dialog.open()

    def _on_silence_dialog_finished(self) -> None:
        if self.silence_dialog is not None:
            self.silence_dialog.deleteLater()
        self.silence_dialog = None

    def _on_expire_clicked(self) -> None:
        for row in selected_rows(self.silence_table):
            self.silenceExpireRequested.emit(self.silences[row].id)


class EventHistoryPanel(QWidget):
    """Every recorded transition, filtered by state, severity, rule, node and time range."""

    eventsRequested = Signal(object)  # EventQuery

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.events: list[AlertEvent] = []
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.state_combo = QComboBox()
        self.state_combo.addItem("any state", None)
        for state in (AlertState.FIRING, AlertState.PENDING, AlertState.RESOLVED, AlertState.INACTIVE,
                      AlertState.NO_DATA, AlertState.ERROR):
            self.state_combo.addItem(STATE_TEXT[state], state)
        self.severity_combo = QComboBox()
        self.severity_combo.addItem("any severity", None)
        for severity in Severity:
            self.severity_combo.addItem(severity.value, severity)
        self.rule_combo, self.node_combo, self.range_combo = QComboBox(), QComboBox(), QComboBox()
        self.rule_combo.addItem("every rule", None)
        self.node_combo.addItem("every node", None)
        for text, seconds in RANGES:
            self.range_combo.addItem(text, seconds)
        self.refresh_button = _button("Refresh", self.request)
        self.count_label = QLabel()
        self.model = CellTableModel(EVENT_HEADERS, numeric_headers=("Value",), parent=self)
        self.table = CopyableTableView(self.model)
        setup_table(self.table, "Summary", "Time", Qt.SortOrder.DescendingOrder)
        filters = QHBoxLayout()
        for widget in (self.state_combo, self.severity_combo, self.rule_combo, self.node_combo, self.range_combo,
                       self.refresh_button):
            filters.addWidget(widget)
        filters.addStretch(1)
        filters.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        for combo in (self.state_combo, self.severity_combo, self.rule_combo, self.node_combo, self.range_combo):
            combo.currentIndexChanged.connect(self.request)

    def set_choices(self, rules: Sequence[AlertRule], nodes: Sequence[str]) -> None:
        """Offer these rules and nodes in the filters, keeping the current choices."""
        for combo, items in ((self.rule_combo, [(r.name, r.id) for r in rules]),
                             (self.node_combo, [(n, n) for n in nodes])):
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for text, data in items:
                combo.addItem(text, data)
            if current is not None and combo.findData(current) < 0:
                combo.addItem(current, current)
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

    def query(self, now: float | None = None) -> EventQuery:
        state = self.state_combo.currentData()
        return EventQuery(
            since=(time.time() if now is None else now) - self.range_combo.currentData(),
            states=None if state is None else (state,), severity=self.severity_combo.currentData(),
            rule_id=self.rule_combo.currentData(), node=self.node_combo.currentData(),
        )

    def request(self) -> None:
        self.eventsRequested.emit(self.query())

    def show_events(self, events: Sequence[AlertEvent], rules: dict[str, AlertRule]) -> None:
        self.events = list(events)
        self.model.set_rows(event_rows(self.events, rules, self._theme))
        self.count_label.setText(f"{len(self.events)} events" if self.events else "No events match these filters.")
