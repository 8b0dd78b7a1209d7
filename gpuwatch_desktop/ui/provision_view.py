"""The Provision tab: the cluster form with a live cost estimate, Plan → the plan summary → Apply with a progress
bar and Terraform's streamed log, Cancel while a run goes, Destroy behind a question that names every pod and the
cost it stops, and the cluster's pods with their running cost.

The widget does no I/O: it emits what the user asked for and ``ProvisionController`` (ui/provision_controller.py)
runs it. The destroy question is a window-modal box opened with ``open()``, kept as ``self.confirmation``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.provisioning.model import (
    ClusterSpec,
    PlanSummary,
    PodInfo,
    Progress,
    ProgressKind,
    RunResult,
)
from gpuwatch_desktop.ui.provision_panels import ClusterForm, Estimate, PlanPanel, PodsPanel, destroy_box, plan_text
from gpuwatch_desktop.ui.theme import DARK, Theme

LOG_LINES = 5000  # the log keeps this many lines; older ones scroll away
RUN_WORDS = {"plan": "Planning", "apply": "Applying", "destroy": "Destroying"}


class ProvisionView(QWidget):
    planRequested = Signal(object)  # ClusterSpec
    applyRequested = Signal()
    cancelRequested = Signal()
    destroyRequested = Signal(str)  # cluster: the controller fetches what it removes, then asks
    destroyConfirmed = Signal(str)
    clusterChosen = Signal(str)  # an existing cluster picked in the form

    def __init__(self, prices: Mapping[str, float], estimate: Estimate, theme: Theme = DARK,
                 prices_note: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.plan: PlanSummary | None = None
        self.planned_spec: ClusterSpec | None = None
        self.running: str | None = None  # "plan" | "apply" | "destroy" while a run goes
        self.clusters: list[str] = []
        self.confirmation: QMessageBox | None = None
        self._setup_ui(prices, estimate, prices_note)
        self._update_buttons()

    def _setup_ui(self, prices: Mapping[str, float], estimate: Estimate, prices_note: str) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(f"background: {self._theme.crit}; color: white; padding: 6px; border-radius: 4px")
        self.banner.hide()
        self.form = ClusterForm(prices, estimate, self._theme)
        self.form.specChanged.connect(self._on_spec_changed)
        self.form.name_combo.activated.connect(self._on_cluster_activated)
        note = self.prices_label = QLabel(prices_note)
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {self._theme.muted}")
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.form)
        column.addLayout(self._buttons_row())
        column.addWidget(note)
        column.addStretch(1)
        self.plan_panel = PlanPanel(self._theme)
        self.pods_panel = PodsPanel()
        self.log_edit = QPlainTextEdit()
        self.log_edit.setReadOnly(True)
        self.log_edit.setMaximumBlockCount(LOG_LINES)
        self.log_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plan_panel, "Plan")
        self.tabs.addTab(self.log_edit, "Log")
        self.tabs.addTab(self.pods_panel, "Pods")
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.addLayout(self._progress_row())
        right_column.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        left.setMaximumWidth(520)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

    def _buttons_row(self) -> QHBoxLayout:
        self.plan_button = QPushButton("Plan")
        self.plan_button.clicked.connect(self._on_plan_clicked)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._on_apply_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested.emit)
        self.destroy_button = QPushButton("Destroy…")
        self.destroy_button.clicked.connect(self._on_destroy_clicked)
        row = QHBoxLayout()
        for button in (self.plan_button, self.apply_button, self.cancel_button, self.destroy_button):
            row.addWidget(button)
        return row

    def _progress_row(self) -> QHBoxLayout:
        self.status_label = QLabel("Idle.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%v / %m")
        row = QHBoxLayout()
        row.addWidget(self.status_label, 1)
        row.addWidget(self.progress_bar, 1)
        return row

    # --- what the controller shows -------------------------------------------------------------------------

    def set_prices(self, prices: Mapping[str, float], estimate: Estimate, note: str) -> None:
        self.form.set_prices(prices, estimate)
        self.prices_label.setText(note)

    def set_clusters(self, names: Sequence[str]) -> None:
        self.clusters = list(names)
        self.form.set_clusters(names)
        self._update_buttons()

    def set_running(self, kind: str | None) -> None:
        """A run started (``kind``) or ended (None): the form locks, Cancel is the only way in between."""
        self.running = kind
        self.form.set_editable(kind is None)
        if kind is not None:
            self.show_error("")
            self.status_label.setText(f"{RUN_WORDS.get(kind, kind)} {self.form.cluster}…")
            self.progress_bar.setRange(0, 0)  # busy until Terraform says how many
            self.log_edit.appendPlainText(f"── {RUN_WORDS.get(kind, kind).lower()} {self.form.cluster} ──")
            self.tabs.setCurrentWidget(self.log_edit)
        self._update_buttons()

    def show_progress(self, progress: Progress) -> None:
        prefix = {"error": "Error: ", "warning": "Warning: "}.get(progress.severity, "")
        self.log_edit.appendPlainText(prefix + progress.message)
        if progress.total > 0:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(min(progress.done, progress.total))
        if progress.kind in (ProgressKind.APPLY_START, ProgressKind.APPLY_PROGRESS, ProgressKind.APPLY_COMPLETE,
                             ProgressKind.APPLY_ERRORED) and progress.message:
            self.status_label.setText(progress.message)

    def show_plan(self, spec: ClusterSpec, plan: PlanSummary) -> None:
        self.plan, self.planned_spec = plan, spec
        self.plan_panel.show_plan(plan)
        self.status_label.setText(plan_text(plan))
        self.tabs.setCurrentWidget(self.plan_panel)
        self._update_buttons()

    def show_result(self, what: str, result: RunResult) -> None:
        """The end of an apply or destroy: its message, the bar full or not, the plan used up."""
        self.plan = self.planned_spec = None
        self.plan_panel.show_plan(None)
        self.progress_bar.setRange(0, max(1, self.progress_bar.maximum()))
        if result.ok:
            self.progress_bar.setValue(self.progress_bar.maximum())
        self.status_label.setText(result.message)
        outcome = "cancelled" if result.cancelled else "done" if result.ok else "failed"
        self.log_edit.appendPlainText(f"── {what} {outcome}: {result.message}")
        if not result.ok and not result.cancelled:
            self.show_error(result.message)
        self._update_buttons()

    def show_run_error(self, text: str) -> None:
        """A run that could not start or broke: the bar stops, the banner says why."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label.setText("Stopped.")
        self.log_edit.appendPlainText(f"Error: {text}")
        self.show_error(text)

    def show_pods(self, cluster: str, pods: Sequence[PodInfo]) -> None:
        self.pods_panel.show_pods(cluster, pods)
        if pods and self.running is None:
            self.tabs.setCurrentWidget(self.pods_panel)

    def show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def confirm_destroy(self, cluster: str, pods: Sequence[PodInfo], cost: float) -> None:
        box = self.confirmation = destroy_box(self, cluster, pods, cost)
        box.accepted.connect(lambda: self.destroyConfirmed.emit(cluster))
        box.finished.connect(self._on_confirmation_finished)
        box.open()

    def _on_confirmation_finished(self) -> None:
        if self.confirmation is not None:
            self.confirmation.deleteLater()
            self.confirmation = None

    # --- requests ------------------------------------------------------------------------------------------

    def _current_spec(self) -> ClusterSpec | None:
        try:
            return self.form.spec()
        except ConfigError:
            return None

    def _on_spec_changed(self) -> None:
        if self.plan is not None:
            self.plan_panel.show_plan(self.plan, stale=self._current_spec() != self.planned_spec)
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = self.running is None
        spec = self._current_spec()
        self.plan_button.setEnabled(idle and spec is not None)
        self.apply_button.setEnabled(idle and self.plan is not None and spec == self.planned_spec)
        self.cancel_button.setEnabled(not idle)
        self.destroy_button.setEnabled(idle and self.form.cluster in self.clusters)

    def _on_plan_clicked(self) -> None:
        spec = self._current_spec()
        if spec is not None:
            self.planRequested.emit(spec)

    def _on_apply_clicked(self) -> None:
        if self.plan is not None and self._current_spec() == self.planned_spec:
            self.applyRequested.emit()

    def _on_destroy_clicked(self) -> None:
        if self.form.cluster in self.clusters:
            self.destroyRequested.emit(self.form.cluster)

    def _on_cluster_activated(self) -> None:
        if self.form.cluster in self.clusters:
            self.clusterChosen.emit(self.form.cluster)
