"""Parts of the Provision tab: the cluster form (with its live cost estimate), the plan summary, the cluster's
pods, and the destroy question. Widgets only: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.provisioning.model import (
    CLOUD_TYPES,
    DEFAULT_IMAGE,
    MAX_GPUS_PER_POD,
    MAX_WORKERS,
    ChangeAction,
    ClusterSpec,
    PlanSummary,
    PodInfo,
)
from gpuwatch_desktop.ui.pod_dialogs import confirm_box
from gpuwatch_desktop.ui.tables import CopyableTableView, RowTableModel
from gpuwatch_desktop.ui.theme import Theme

_Index = QModelIndex | QPersistentModelIndex
ACTION_TEXT = {ChangeAction.CREATE: "+ create", ChangeAction.UPDATE: "~ update", ChangeAction.DELETE: "− destroy",
               ChangeAction.REPLACE: "−/+ replace", ChangeAction.READ: "read", ChangeAction.NOOP: "no change"}
CHANGE_HEADERS = ("Action", "Resource", "Type")
POD_HEADERS = ("Name", "Role", "GPUs", "$/h", "Pod ID", "GPU metrics")
Estimate = Callable[[ClusterSpec], float]


def price_estimate(prices: Mapping[str, float]) -> Estimate:
    """The form's estimate when no service gives one: price per GPU-hour × GPUs per pod × pods."""
    return lambda spec: prices.get(spec.gpu_type, 0.0) * spec.gpu_count * spec.pod_count


class FormattedRowModel(RowTableModel):
    """Rows whose cells are shown through per-column formatters (sorting stays on the raw values)."""

    def __init__(self, headers: Sequence[str], formats: Mapping[int, Callable[[Any], str]],
                 colors: Callable[[int], QColor | None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(headers, parent)
        self._formats = formats
        self._colors = colors

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole and index.column() in self._formats:
            return self._formats[index.column()](self.rows[index.row()][index.column()])
        if index.isValid() and role == Qt.ItemDataRole.ForegroundRole and self._colors is not None:
            return self._colors(index.row())
        return super().data(index, role)


class ClusterForm(QWidget):
    """The cluster asked for. ``specChanged`` on every edit; ``spec()`` raises ConfigError when it is invalid."""

    specChanged = Signal()

    def __init__(self, prices: Mapping[str, float], estimate: Estimate, theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prices = dict(prices)
        self._estimate = estimate
        self._theme = theme
        self._setup_ui()
        self._on_edited()

    def _setup_ui(self) -> None:
        self.name_combo = QComboBox()
        self.name_combo.setEditable(True)
        self.name_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name_combo.setEditText("gpuwatch")
        self.gpu_combo = QComboBox()
        self._fill_gpu_types()
        self.gpu_count_spin = _spin(1, MAX_GPUS_PER_POD, 1, "GPU")
        self.workers_spin = _spin(0, MAX_WORKERS, 0, "worker")
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("Hugging Face id served by vLLM on the head, e.g. Qwen/Qwen2.5-7B-Instruct")
        self.hf_token_edit = QLineEdit()
        self.hf_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_hf_token_state(False)
        self.volume_spin = _spin(1, 4000, 50, "GB", plural=False)
        self.cloud_combo = QComboBox()
        self.cloud_combo.addItems(list(CLOUD_TYPES))
        self.image_edit = QLineEdit(DEFAULT_IMAGE)
        self.estimate_label = QLabel()
        font = self.estimate_label.font()
        font.setBold(True)
        self.estimate_label.setFont(font)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {self._theme.crit}")
        form = QFormLayout()
        form.addRow("Cluster", self.name_combo)
        form.addRow("GPU type", self.gpu_combo)
        form.addRow("GPUs per pod", self.gpu_count_spin)
        form.addRow("Worker pods", self.workers_spin)
        form.addRow("Model (head)", self.model_edit)
        form.addRow("Hugging Face token", self.hf_token_edit)
        form.addRow("Volume per pod", self.volume_spin)
        form.addRow("Cloud", self.cloud_combo)
        form.addRow("Pod image", self.image_edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.error_label)
        for signal in (self.name_combo.editTextChanged, self.gpu_combo.currentIndexChanged,
                       self.gpu_count_spin.valueChanged, self.workers_spin.valueChanged, self.model_edit.textChanged,
                       self.volume_spin.valueChanged, self.cloud_combo.currentIndexChanged,
                       self.image_edit.textChanged):
            signal.connect(self._on_edited)

    def _fill_gpu_types(self) -> None:
        for gpu, price in sorted(self._prices.items(), key=lambda item: item[1]):
            self.gpu_combo.addItem(f"{gpu} — ${price:.2f}/GPU/h", gpu)

    def set_prices(self, prices: Mapping[str, float], estimate: Estimate) -> None:
        """A new price table (read after start-up, or edited): the GPU list and the estimate follow it."""
        chosen = self.gpu_combo.currentData()
        self._prices, self._estimate = dict(prices), estimate
        self.gpu_combo.blockSignals(True)
        self.gpu_combo.clear()
        self._fill_gpu_types()
        self.gpu_combo.setCurrentIndex(max(0, self.gpu_combo.findData(chosen)))
        self.gpu_combo.blockSignals(False)
        self._on_edited()

    @property
    def cluster(self) -> str:
        return self.name_combo.currentText().strip()

    def set_clusters(self, names: Sequence[str]) -> None:
        current = self.name_combo.currentText()
        self.name_combo.blockSignals(True)
        self.name_combo.clear()
        self.name_combo.addItems(list(names))
        self.name_combo.setEditText(current)
        self.name_combo.blockSignals(False)

    def spec(self) -> ClusterSpec:
        """The spec the form holds; ConfigError saying what to fix."""
        gpu = self.gpu_combo.currentData()
        if not isinstance(gpu, str):
            raise ConfigError("no GPU types to choose from: the price table (gpu_prices.yaml) is empty or unreadable")
        spec = ClusterSpec(self.cluster, gpu, self.gpu_count_spin.value(), self.workers_spin.value(),
                           self.image_edit.text().strip(), self.model_edit.text().strip(), self.volume_spin.value(),
                           self.cloud_combo.currentText())
        spec.validate()
        return spec

    def set_spec(self, spec: ClusterSpec) -> None:
        """Fill the form from a spec (a cluster's saved one)."""
        self.name_combo.setEditText(spec.name)
        index = self.gpu_combo.findData(spec.gpu_type)
        if index < 0:
            self.gpu_combo.addItem(f"{spec.gpu_type} — price unknown", spec.gpu_type)
            index = self.gpu_combo.count() - 1
        self.gpu_combo.setCurrentIndex(index)
        self.gpu_count_spin.setValue(spec.gpu_count)
        self.workers_spin.setValue(spec.workers)
        self.model_edit.setText(spec.model)
        self.volume_spin.setValue(spec.volume_gb)
        self.cloud_combo.setCurrentText(spec.cloud_type)
        self.image_edit.setText(spec.image)

    def show_hf_token_state(self, stored: bool) -> None:
        self.hf_token_edit.setPlaceholderText(
            "stored in the system keyring; type a new one to replace it" if stored
            else "only for gated models; kept in the system keyring")

    def take_hf_token(self) -> str:
        """The token typed since the last plan ("" = none typed); the field is emptied."""
        token = self.hf_token_edit.text().strip()
        self.hf_token_edit.clear()
        return token

    def set_editable(self, editable: bool) -> None:
        for widget in (self.name_combo, self.gpu_combo, self.gpu_count_spin, self.workers_spin, self.model_edit,
                       self.hf_token_edit, self.volume_spin, self.cloud_combo, self.image_edit):
            widget.setEnabled(editable)

    def _on_edited(self) -> None:
        try:
            spec = self.spec()
        except ConfigError as exc:
            self.error_label.setText(f"Fix: {exc}")
            self.estimate_label.setText("Estimated cost: —")
        else:
            self.error_label.setText("")
            cost = self._estimate(spec)
            price = self._prices.get(spec.gpu_type)
            each = f" at ${price:.2f}/GPU/h" if price is not None else " (GPU price unknown)"
            self.estimate_label.setText(
                f"Estimated ${cost:.2f}/h (${cost * 24:.2f}/day): {spec.pod_count} pod"
                f"{'s' if spec.pod_count != 1 else ''} × {spec.gpu_count} GPU{'s' if spec.gpu_count != 1 else ''}"
                f"{each}")
        self.specChanged.emit()


def _spin(low: int, high: int, value: int, unit: str, plural: bool = True) -> QSpinBox:
    """A spin box whose unit reads right for one and for many ("1 GPU", "2 GPUs")."""
    spin = QSpinBox()
    spin.setRange(low, high)

    def set_unit(count: int) -> None:
        spin.setSuffix(f" {unit}" + ("s" if plural and count != 1 else ""))

    spin.valueChanged.connect(set_unit)
    spin.setValue(value)
    set_unit(value)
    return spin


class PlanPanel(QWidget):
    """What the last plan will create, change and destroy, and the cost after apply."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.summary_label = QLabel("No plan yet: fill in the form and press Plan.")
        self.summary_label.setWordWrap(True)
        self.model = FormattedRowModel(CHANGE_HEADERS, {0: lambda a: ACTION_TEXT.get(a, str(a))}, self._row_color)
        self.table = CopyableTableView(self.model)
        _size_columns(self.table, stretch=1)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # Terraform's order until the user sorts
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)

    def show_plan(self, plan: PlanSummary | None, stale: bool = False) -> None:
        if plan is None:
            self.summary_label.setText("No plan yet: fill in the form and press Plan.")
            self.model.set_rows([])
            return
        text = plan_text(plan)
        if stale:
            text += "  The form changed since: press Plan again before Apply."
        self.summary_label.setText(text)
        shown = [c for c in plan.changes if c.action not in (ChangeAction.NOOP, ChangeAction.READ)]
        self.model.set_rows([(c.action, c.address, c.resource_type) for c in shown])

    def _row_color(self, row: int) -> QColor | None:
        action = self.model.rows[row][0]
        color = {ChangeAction.CREATE: self._theme.ok, ChangeAction.UPDATE: self._theme.warn,
                 ChangeAction.REPLACE: self._theme.warn, ChangeAction.DELETE: self._theme.crit}.get(action)
        return QColor(color) if color else None


def _size_columns(table: CopyableTableView, stretch: int) -> None:
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


def plan_text(plan: PlanSummary) -> str:
    if not (plan.add or plan.change or plan.remove):
        return f"Plan: no changes; the cluster is as asked (${plan.cost_per_hour:.2f}/h)."
    return (f"Plan: {plan.add} to add, {plan.change} to change, {plan.remove} to destroy. "
            f"After apply the cluster costs about ${plan.cost_per_hour:.2f}/h.")


class PodsPanel(QWidget):
    """The pods the cluster has now and what they cost while they live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cost_label = QLabel("No pods.")
        font = self.cost_label.font()
        font.setBold(True)
        self.cost_label.setFont(font)
        self.model = FormattedRowModel(POD_HEADERS, {3: lambda v: f"${v:.2f}"})
        self.table = CopyableTableView(self.model)
        _size_columns(self.table, stretch=5)
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # the head first
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.cost_label)
        layout.addWidget(self.table, 1)

    def show_pods(self, cluster: str, pods: Sequence[PodInfo]) -> None:
        self.model.set_rows([(p.name, p.role, f"{p.gpu_count} × {p.gpu_type}", p.cost_per_hour, p.id,
                              p.urls.get(9400, "")) for p in pods])
        cost = sum(p.cost_per_hour for p in pods)
        self.cost_label.setText(f"Cluster “{cluster}”: {len(pods)} pod{'s' if len(pods) != 1 else ''} running · "
                                f"${cost:.2f}/h" if pods else f"Cluster “{cluster}”: no pods.")


def destroy_text(cluster: str, pods: Sequence[PodInfo], cost: float) -> str:
    if not pods:
        return (f"Destroy cluster “{cluster}”?\n\nNo pods exist in its Terraform state; this removes whatever else "
                "Terraform manages for it.")
    lines = [f"• {p.name} ({p.id}): {p.gpu_count} × {p.gpu_type}, ${p.cost_per_hour:.2f}/h" for p in pods]
    return (f"Destroy cluster “{cluster}”? This terminates {len(pods)} pod{'s' if len(pods) != 1 else ''} and stops "
            f"${cost:.2f}/h:\n\n" + "\n".join(lines) + "\n\nTheir volumes and everything on them are deleted. "
            "This cannot be undone.")


def destroy_box(parent: QWidget, cluster: str, pods: Sequence[PodInfo], cost: float) -> QMessageBox:
    return confirm_box(parent, f"Destroy {cluster}", destroy_text(cluster, pods, cost), "Destroy", destructive=True)
