"""The detail view of one GPU (or every GPU of a node): live or stored charts and the process table."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.metrics import CHARTED_METRICS
from gpuwatch_desktop.core.snapshot import NodeView
from gpuwatch_desktop.services.live import LiveHistory
from gpuwatch_desktop.ui.charts import CurveData, MetricCharts
from gpuwatch_desktop.ui.tables import PROCESS_HEADERS, CopyableTableView, RowTableModel, process_rows
from gpuwatch_desktop.ui.theme import Theme

if TYPE_CHECKING:  # storage (peewee, SQLite) is imported after the window's first frame
    from gpuwatch_desktop.storage import SeriesData

# (button text, seconds shown, live from memory?)
RANGES: tuple[tuple[str, int, bool], ...] = (
    ("Live 5 min", 300, True), ("1 h", 3600, False), ("24 h", 86400, False), ("7 d", 7 * 86400, False),
)

HistoryByGpu = Mapping[int, Mapping[str, "SeriesData"]]


class GpuDetailView(QWidget):
    historyRequested = Signal(str, object, float, float)  # node, GPU index or None for all, start, end

    def __init__(self, theme: Theme, live: LiveHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._live = live
        self.node: str | None = None
        self.gpu_index: int | None = None
        self.range_index = 0
        self._view: NodeView | None = None
        self._setup_ui(theme)

    def _setup_ui(self, theme: Theme) -> None:
        layout = QVBoxLayout(self)
        self.title_label = QLabel("Select a GPU in the overview")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.title_label)
        top = QHBoxLayout()
        self.range_buttons = QButtonGroup(self)
        for i, (text, _seconds, _live) in enumerate(RANGES):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setChecked(i == 0)
            self.range_buttons.addButton(button, i)
            top.addWidget(button)
        self.range_buttons.idClicked.connect(self._on_range_clicked)
        top.addStretch(1)
        self.png_button = QPushButton("PNG…")
        self.csv_button = QPushButton("CSV…")
        self.png_button.clicked.connect(self._on_png_clicked)
        self.csv_button.clicked.connect(self._on_csv_clicked)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)
        layout.addLayout(top)
        self.readout_label = QLabel(" ")
        self.readout_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout_label.setObjectName("readout")
        layout.addWidget(self.readout_label)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.charts = MetricCharts(theme)
        self.charts.crosshairMoved.connect(self.readout_label.setText)
        self.charts.zoomed.connect(self._on_charts_zoomed)
        self.process_model = RowTableModel(PROCESS_HEADERS, self)
        self.process_table = CopyableTableView(self.process_model)
        self.splitter.addWidget(self.charts)
        self.splitter.addWidget(self.process_table)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)

    @property
    def is_live(self) -> bool:
        return RANGES[self.range_index][2]

    def show_target(self, node: str, gpu_index: int | None, view: NodeView | None) -> None:
        self.node, self.gpu_index, self._view = node, gpu_index, view
        self._update_title(view)
        self._reload(view)

    def _update_title(self, view: NodeView | None) -> None:
        target = "all GPUs" if self.gpu_index is None else f"GPU {self.gpu_index}"
        text = f"<b>{self.node}</b> · {target}"
        gpu = view.snapshot.gpu(self.gpu_index) if view and view.snapshot and self.gpu_index is not None else None
        if gpu is not None:
            text += f" · {gpu.model} · <span style='color:gray'>{gpu.uuid}</span>"
        self.title_label.setText(text)

    def _reload(self, view: NodeView | None) -> None:
        if self.node is None:
            return
        if self.is_live:
            self.refresh_live(view)
        else:
            end = time.time()
            self.historyRequested.emit(self.node, self.gpu_index, end - RANGES[self.range_index][1], end)

    def refresh_live(self, view: NodeView | None) -> None:
        """Redraw from the in-memory ring (live mode) and the process table from the latest snapshot."""
        if self.node is None:
            return
        self._view = view
        snapshot = view.snapshot if view else None
        self.process_model.set_rows(process_rows(snapshot.processes if snapshot else (), self.gpu_index))
        if not self.is_live:
            return
        now = time.time()
        since = now - RANGES[self.range_index][1]
        indexes = self._gpu_indexes(view)
        for spec in CHARTED_METRICS:
            curves = []
            for index in indexes:
                ts, values = self._live.series(self.node, index, spec.key, since)
                curves.append(CurveData(f"GPU {index}", ts, values))
            self.charts.set_curves(spec.key, curves)
        if self.charts.following:
            self.charts.set_time_range(since, now)

    def _gpu_indexes(self, view: NodeView | None) -> list[int]:
        if self.gpu_index is not None:
            return [self.gpu_index]
        snapshot = view.snapshot if view else None
        return [g.index for g in snapshot.gpus] if snapshot else []

    def show_history(self, history: HistoryByGpu, start: float, end: float) -> None:
        for spec in CHARTED_METRICS:
            curves = []
            for index, series in sorted(history.items()):
                data = series.get(spec.key)
                if data is not None:
                    curves.append(CurveData(f"GPU {index}", data.ts, data.mean, data.min, data.max))
            self.charts.set_curves(spec.key, curves)
        self.charts.set_time_range(start, end)
        if not any(len(s.ts) for series in history.values() for s in series.values()):
            self.readout_label.setText("No stored history in this range yet.")

    def show_error(self, message: str) -> None:
        self.readout_label.setText(f"<span style='color:#f85149'>{message}</span>")

    def select_range(self, index: int) -> None:
        button = self.range_buttons.button(index)
        button.setChecked(True)
        self._on_range_clicked(index)

    def _on_range_clicked(self, index: int) -> None:
        self.range_index = index
        self.charts.following = True
        self.readout_label.setText(" ")
        self._reload(self._view)

    def _on_charts_zoomed(self, start: float, end: float) -> None:
        """Zooming a stored range loads that span again, so detail appears as the range narrows."""
        if self.is_live:
            self.readout_label.setText("Paused at this zoom: press “Live 5 min” to follow new data again.")
        elif self.node is not None:
            self.historyRequested.emit(self.node, self.gpu_index, start, end)

    def _on_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export chart as PNG", "gpuwatch-chart.png", "PNG (*.png)")
        if path:
            self._export(lambda: self.charts.export_png(Path(path)))

    def _on_csv_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export data as CSV", "gpuwatch-data.csv", "CSV (*.csv)")
        if path:
            self._export(lambda: self.charts.export_csv(Path(path)))

    def _export(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
