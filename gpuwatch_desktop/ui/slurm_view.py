"""The Slurm tab: a summary line, the nodes and partitions, and the job queue with filters and a detail pane.

The view has no async code: it shows what ``show_status`` gives it and asks for a refresh or the settings
with signals (see ``SlurmController``).
"""

from __future__ import annotations

import html
import time
from collections.abc import Hashable

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.slurm import SlurmJob, SlurmStatus
from gpuwatch_desktop.ui.alerts_panels import reselect, selected_rows, setup_table
from gpuwatch_desktop.ui.presorted import PresortedTableView, SortedCellModel
from gpuwatch_desktop.ui.slurm_tables import (
    ALL_USERS,
    JOB_HEADERS,
    JOB_NUMERIC,
    NODE_HEADERS,
    NODE_NUMERIC,
    PARTITION_HEADERS,
    PARTITION_NUMERIC,
    STATE_FILTERS,
    JobFilter,
    banner_text,
    freshness_text,
    job_detail_html,
    job_row,
    node_rows,
    partition_rows,
    summary_html,
)
from gpuwatch_desktop.ui.theme import Theme

EMPTY_TEXT = "No Slurm exporter configured — add a node's Slurm URL in Settings → Nodes"
NO_JOB_TEXT = "Select a job to see all its fields."
TICK_MS = 5000  # how often the "… ago" texts move on
FIT_ROWS = 100  # column widths are measured on this many rows


class SlurmView(QWidget):
    refreshRequested = Signal()
    settingsRequested = Signal(str)  # the settings tab to open

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.status: SlurmStatus | None = None
        self.url = ""
        self._detail_job: SlurmJob | None = None
        self._fitted: list[PresortedTableView] = []
        self._setup_ui()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        self.show_status("", None, fetching=False)

    def _setup_ui(self) -> None:
        self.stack = QStackedWidget()
        self.stack.addWidget(self._empty_page())
        self.stack.addWidget(self._content_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def _empty_page(self) -> QWidget:
        page = QWidget()
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet(f"color: {self._theme.muted}; font-size: 14px")
        self.settings_button = QPushButton("Open Settings → Nodes…")
        self.settings_button.clicked.connect(lambda: self.settingsRequested.emit("Nodes"))
        column = QVBoxLayout(page)
        column.addStretch(1)
        column.addWidget(self.empty_label)
        column.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(1)
        return page

    def _content_page(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.addLayout(self._header_row())
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.banner)
        self.nodes_table = self._table(NODE_HEADERS, NODE_NUMERIC, "Reason", "Node")
        self.partitions_table = self._table(PARTITION_HEADERS, PARTITION_NUMERIC, "", "Partition")
        self.partitions_table.horizontalHeader().setStretchLastSection(True)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(_titled("Nodes", self.nodes_table))
        top.addWidget(_titled("Partitions", self.partitions_table))
        top.setSizes([600, 600])
        self.detail = QTextBrowser()
        self.detail.setPlaceholderText(NO_JOB_TEXT)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self._jobs_panel())
        bottom.addWidget(_titled("Job detail", self.detail))
        bottom.setSizes([900, 320])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setSizes([300, 500])
        column.addWidget(self.splitter, 1)
        return page

    def _header_row(self) -> QHBoxLayout:
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.fresh_label = QLabel()
        self.fresh_label.setStyleSheet(f"color: {self._theme.muted}")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # busy indicator while a fetch runs
        self.busy.setMaximumWidth(80)
        self.busy.setTextVisible(False)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshRequested)
        row = QHBoxLayout()
        row.addWidget(self.summary_label, 1)
        row.addWidget(self.fresh_label)
        row.addWidget(self.busy)
        row.addWidget(self.refresh_button)
        return row

    def _jobs_panel(self) -> QWidget:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter jobs: id, name, user, partition, state, reason, nodes")
        self.filter_edit.setClearButtonEnabled(True)
        self.state_combo = QComboBox()
        self.state_combo.addItems(STATE_FILTERS)
        self.user_combo = QComboBox()
        self.user_combo.addItem(ALL_USERS)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.state_combo.currentTextChanged.connect(self._on_filter_changed)
        self.user_combo.currentTextChanged.connect(self._on_filter_changed)
        self.jobs_count = QLabel()
        self.jobs_table = self._table(JOB_HEADERS, JOB_NUMERIC, "Name", None)
        self.jobs_table.selectionModel().currentRowChanged.connect(self._on_current_job_changed)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Job queue"))
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(QLabel("State"))
        filters.addWidget(self.state_combo)
        filters.addWidget(QLabel("User"))
        filters.addWidget(self.user_combo)
        filters.addWidget(self.jobs_count)
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(filters)
        column.addWidget(self.jobs_table, 1)
        return panel

    def _table(self, headers: tuple[str, ...], numeric: tuple[str, ...], stretch: str,
               sort: str | None) -> PresortedTableView:
        table = PresortedTableView(SortedCellModel(headers, numeric_headers=numeric))
        setup_table(table, stretch, sort)  # stretch "": every column fits its contents
        header = table.horizontalHeader()
        for column in range(len(headers)):  # sized once to the first rows (see _fit_columns), then the user's
            if header.sectionResizeMode(column) == QHeaderView.ResizeMode.ResizeToContents:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(FIT_ROWS)
        return table

    def _fit_columns(self, table: PresortedTableView) -> None:
        """Column widths from the first data shown: kept after, so a refresh measures no text (1000s of rows)."""
        if table not in self._fitted and table.source_model.rowCount():
            self._fitted.append(table)
            table.resizeColumnsToContents()

    def show_status(self, url: str, status: SlurmStatus | None, fetching: bool) -> None:
        """Show the exporter at ``url`` ("" = none configured), its latest data (None = none yet)."""
        self.url, self.status = url, status
        self.stack.setCurrentIndex(0 if not url else 1)
        self.busy.setVisible(fetching)
        self.refresh_button.setEnabled(not fetching)
        now = time.time()
        if status is None:
            self.summary_label.setText(f"Connecting to the Slurm exporter at {html.escape(url)}…" if url else "")
            self.fresh_label.setText("")
        else:
            self.summary_label.setText(summary_html(status, self._theme) if status.has_data else
                                       f"No Slurm data from {html.escape(url)}")
        self._show_texts(now)
        self.nodes_table.source_model.set_rows(node_rows(status.nodes if status else (), self._theme))
        self.partitions_table.source_model.set_rows(partition_rows(status.partitions if status else (), self._theme))
        self._show_users(status.jobs if status else ())
        self._show_jobs(now)
        for table in (self.nodes_table, self.partitions_table, self.jobs_table):
            self._fit_columns(table)

    def job_at(self, row: int) -> SlurmJob:
        """The job shown in the job table's source row ``row``."""
        job: SlurmJob = self.jobs_table.source_model.rows[row][-1]
        return job

    def job_filter(self) -> JobFilter:
        user = self.user_combo.currentText()
        return JobFilter(self.filter_edit.text(), self.state_combo.currentText(),
                         None if user in (ALL_USERS, "") else user)

    def _show_texts(self, now: float) -> None:
        status = self.status
        if status is not None:
            self.fresh_label.setText(freshness_text(status, now))
        text = banner_text(status, now) if status is not None else ""
        color = self._theme.warn if status is not None and status.has_data else self._theme.crit
        self.banner.setText(text)
        self.banner.setStyleSheet(f"border: 1px solid {color}; border-radius: 4px; padding: 6px; color: {color}")
        self.banner.setVisible(bool(text))

    def _show_users(self, jobs: tuple[SlurmJob, ...]) -> None:
        users = sorted({j.user for j in jobs if j.user})
        current = self.user_combo.currentText()
        if users == [self.user_combo.itemText(i) for i in range(1, self.user_combo.count())]:
            return
        self.user_combo.blockSignals(True)
        self.user_combo.clear()
        self.user_combo.addItems([ALL_USERS, *users])
        if current != ALL_USERS and current not in users:
            self.user_combo.addItem(current)  # kept until the user changes it: their jobs may come back
        self.user_combo.setCurrentText(current)
        self.user_combo.blockSignals(False)

    def _show_jobs(self, now: float) -> None:
        jobs = self.status.jobs if self.status is not None else ()
        wanted = self.job_filter()
        keep: set[Hashable] = {self.job_at(r).id for r in selected_rows(self.jobs_table)}
        shown = [(*job_row(j, now, self._theme), j) for j in jobs if wanted.accepts(j)]  # the job rides along
        self.jobs_table.source_model.set_rows(shown)
        reselect(self.jobs_table, keep, lambda row: self.job_at(row).id)
        self.jobs_count.setText(f"{len(shown)} of {len(jobs)} jobs")
        if self._detail_job is not None:  # fresh fields, or a note that it has left the queue
            self._show_detail(self._detail_job.id, now)

    def _show_detail(self, job_id: str, now: float) -> None:
        jobs = self.status.jobs if self.status is not None else ()
        current = next((j for j in jobs if j.id == job_id), None)
        if current is not None:
            self._detail_job = current
            self.detail.setHtml(job_detail_html(current, now))
        elif self._detail_job is not None and self._detail_job.id == job_id:
            note = f"<p><i>Job {html.escape(job_id)} has left the queue (finished or cancelled).</i></p>"
            self.detail.setHtml(note + job_detail_html(self._detail_job, now))

    def _on_filter_changed(self) -> None:
        self._show_jobs(time.time())

    def _on_current_job_changed(self, current: QModelIndex) -> None:
        row = self.jobs_table.model().mapToSource(current).row()  # type: ignore[attr-defined]
        if 0 <= row < self.jobs_table.source_model.rowCount():
            self._show_detail(self.job_at(row).id, time.time())

    def _on_tick(self) -> None:
        if self.status is not None:
            self._show_texts(time.time())


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(QLabel(f"<b>{title}</b>"))
    column.addWidget(widget, 1)
    return box
