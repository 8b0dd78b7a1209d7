"""The RunPod tab: the account's pods from RunPod's API with only an API key (zero-install monitoring).

The widget does no I/O: it shows ``AccountSnapshot``s and emits what the user asked for; ``RunPodController``
(ui/runpod_controller.py) carries it out. Start, Stop and Watch ask first in a window-modal box opened with
``open()`` (kept as ``self.confirmation`` / ``self.watch_dialog`` so tests can read and answer it).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.provisioning.runpod_api import RUNPOD_KEYS_PAGE, RunPodPod
from gpuwatch_desktop.services.runpod_account import AccountSnapshot
from gpuwatch_desktop.ui.pod_dialogs import WatchPodDialog, confirm_box
from gpuwatch_desktop.ui.tables import CopyableTableView, RowTableModel
from gpuwatch_desktop.ui.theme import DARK, Theme

POD_HEADERS = ("Name", "Status", "GPUs", "$/h", "Uptime", "GPU util %", "GPU mem %", "Pod ID")
_COST, _UPTIME, _UTIL, _MEM = 3, 4, 5, 6
_Index = QModelIndex | QPersistentModelIndex


def format_uptime(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def pod_row(pod: RunPodPod) -> tuple[Any, ...]:
    gpus = f"{pod.gpu_count} × {pod.gpu_type or 'unknown GPU'}" if pod.gpu_count else "none (CPU)"
    return (pod.name, pod.status, gpus, pod.cost_per_hour, pod.uptime_s, pod.gpu_util_percent,
            pod.memory_percent, pod.id)


class PodTableModel(RowTableModel):
    """Pod rows: dollars with cents, uptime in words, blanks for what a stopped pod lacks; sorts on raw values."""

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        column = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return -1.0 if value is None else value
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (_COST, _UPTIME, _UTIL, _MEM):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return super().data(index, role)
        if column == _COST:
            return f"${value:.2f}"
        if column == _UPTIME:
            return format_uptime(value)
        if column in (_UTIL, _MEM):
            return "—" if value is None else f"{value:.0f}"
        return str(value)


class RunPodView(QWidget):
    keySubmitted = Signal(str)
    keyForgetRequested = Signal()
    refreshRequested = Signal()
    startConfirmed = Signal(object)  # RunPodPod
    stopConfirmed = Signal(object)  # RunPodPod
    watchConfirmed = Signal(object, str)  # RunPodPod, access token ("" = none)
    visibilityChanged = Signal(bool)

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.pods: list[RunPodPod] = []
        self.confirmation: QMessageBox | None = None
        self.watch_dialog: WatchPodDialog | None = None
        self._setup_ui()
        self.show_key_state(False)
        self._on_selection_changed()

    def _setup_ui(self) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(f"background: {self._theme.crit}; color: white; padding: 6px; border-radius: 4px")
        self.banner.hide()
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet(f"color: {self._theme.muted}")
        self.model = PodTableModel(POD_HEADERS, self)
        self.table = CopyableTableView(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(POD_HEADERS.index("GPUs"), QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.doubleClicked.connect(self._on_watch_clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(self._key_row())
        layout.addWidget(self.banner)
        layout.addLayout(self._summary_row())
        layout.addWidget(self.table, 1)
        layout.addLayout(self._action_row())
        layout.addWidget(self.message_label)

    def _key_row(self) -> QVBoxLayout:
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.returnPressed.connect(self._on_save_key_clicked)
        self.save_key_button = QPushButton("Save key")
        self.save_key_button.clicked.connect(self._on_save_key_clicked)
        self.forget_key_button = QPushButton("Forget key")
        self.forget_key_button.clicked.connect(self.keyForgetRequested.emit)
        self.key_state_label = QLabel()
        row = QHBoxLayout()
        row.addWidget(QLabel("RunPod API key"))
        row.addWidget(self.key_edit, 1)
        row.addWidget(self.save_key_button)
        row.addWidget(self.forget_key_button)
        link = f'<a style="color: {self._theme.accent}" href="{RUNPOD_KEYS_PAGE}">{RUNPOD_KEYS_PAGE}</a>'
        self.key_help = QLabel(f"Create a key at {link} → API Keys (read access is enough to watch; Start and Stop "
                               "need read/write). It is kept only in the system keyring.")
        self.key_help.setOpenExternalLinks(True)
        self.key_help.setWordWrap(True)
        self.key_help.setStyleSheet(f"color: {self._theme.muted}")
        column = QVBoxLayout()
        column.addLayout(row)
        column.addWidget(self.key_help)
        return column

    def _summary_row(self) -> QHBoxLayout:
        self.cost_label = QLabel()
        font = self.cost_label.font()
        font.setBold(True)
        self.cost_label.setFont(font)
        self.updated_label = QLabel()
        self.updated_label.setStyleSheet(f"color: {self._theme.muted}")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshRequested.emit)
        row = QHBoxLayout()
        row.addWidget(self.cost_label)
        row.addStretch(1)
        row.addWidget(self.updated_label)
        row.addWidget(self.refresh_button)
        return row

    def _action_row(self) -> QHBoxLayout:
        self.start_button = QPushButton("Start…")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.stop_button = QPushButton("Stop…")
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.watch_button = QPushButton("Watch this pod…")
        self.watch_button.setToolTip("Add the pod to the watched cluster (its GPU exporter on port 9400)")
        self.watch_button.clicked.connect(self._on_watch_clicked)
        row = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.watch_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    # --- what the controller shows -------------------------------------------------------------------------

    def show_key_state(self, has_key: bool) -> None:
        self.forget_key_button.setEnabled(has_key)
        self.key_edit.setPlaceholderText("stored in the system keyring; enter a new key to replace it" if has_key
                                         else "paste your RunPod API key")

    def show_snapshot(self, snapshot: AccountSnapshot) -> None:
        self.show_key_state(snapshot.has_key)
        selected = self.selected_pod()
        self.pods = list(snapshot.pods)
        self.model.set_rows([pod_row(p) for p in self.pods])
        if selected is not None:
            self._select(selected.id)
        self.cost_label.setText(f"{snapshot.running} of {len(self.pods)} pods running · "
                                f"${snapshot.running_cost:.2f}/h")
        when = snapshot.fetched_at
        self.updated_label.setText("" if when is None else
                                   f"updated {time.strftime('%H:%M:%S', time.localtime(when))}"
                                   + (" (stale)" if snapshot.error else ""))
        self.show_error(snapshot.error)
        self._on_selection_changed()

    def show_error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)

    def set_busy(self, busy: bool) -> None:
        for button in (self.save_key_button, self.refresh_button):
            button.setEnabled(not busy)

    def clear_key_field(self) -> None:
        self.key_edit.clear()

    # --- selection and requests ----------------------------------------------------------------------------

    def selected_pod(self) -> RunPodPod | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        source = self.table.model().mapToSource(rows[0]).row()  # type: ignore[attr-defined]
        return self.pods[source] if 0 <= source < len(self.pods) else None

    def select_pod(self, pod_id: str) -> None:
        self._select(pod_id)

    def _select(self, pod_id: str) -> None:
        proxy = self.table.model()
        for row in range(proxy.rowCount()):
            if proxy.index(row, len(POD_HEADERS) - 1).data() == pod_id:
                self.table.selectRow(row)
                return

    def _on_selection_changed(self) -> None:
        pod = self.selected_pod()
        self.start_button.setEnabled(pod is not None and pod.desired_status == "EXITED")
        self.stop_button.setEnabled(pod is not None and pod.running)
        self.watch_button.setEnabled(pod is not None and pod.desired_status != "TERMINATED")

    def _on_save_key_clicked(self) -> None:
        key = self.key_edit.text().strip()
        if not key:
            self.show_error("Paste a RunPod API key first (from the link below the field).")
            return
        self.keySubmitted.emit(key)

    def _on_start_clicked(self) -> None:
        pod = self.selected_pod()
        if pod is None:
            return
        text = (f"Start pod “{pod.name}” ({pod.id}) with {pod.gpu_count} × {pod.gpu_type or 'GPU'}?\n\n"
                f"It is billed at ${pod.cost_per_hour:.2f}/h while it runs.")
        self._confirm("Start pod", text, "Start", lambda: self.startConfirmed.emit(pod))

    def _on_stop_clicked(self) -> None:
        pod = self.selected_pod()
        if pod is None:
            return
        text = (f"Stop pod “{pod.name}” ({pod.id})? It costs ${pod.cost_per_hour:.2f}/h now.\n\n"
                "Its GPUs are released and whatever runs in it ends; the volume is kept. "
                "Starting it again may find no free GPU on its machine.")
        self._confirm("Stop pod", text, "Stop", lambda: self.stopConfirmed.emit(pod))

    def _confirm(self, title: str, text: str, action: str, on_yes: Any) -> None:
        box = self.confirmation = confirm_box(self, title, text, action)
        box.accepted.connect(on_yes)
        box.finished.connect(self._on_confirmation_finished)
        box.open()

    def _on_confirmation_finished(self) -> None:
        if self.confirmation is not None:
            self.confirmation.deleteLater()
            self.confirmation = None

    def _on_watch_clicked(self) -> None:
        pod = self.selected_pod()
        if pod is None or pod.desired_status == "TERMINATED":
            return
        dialog = self.watch_dialog = WatchPodDialog(pod, self._theme, self)
        dialog.accepted.connect(lambda: self.watchConfirmed.emit(pod, dialog.token()))
        dialog.finished.connect(self._on_watch_finished)
        dialog.open()

    def _on_watch_finished(self) -> None:
        if self.watch_dialog is not None:
            self.watch_dialog.deleteLater()
            self.watch_dialog = None

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.visibilityChanged.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.visibilityChanged.emit(False)
