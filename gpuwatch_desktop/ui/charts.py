"""Stacked, x-linked pyqtgraph charts of GPU metrics with a crosshair read-out and PNG/CSV export."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QTimer, Signal
from PySide6.QtWidgets import QWidget

from gpuwatch_desktop.core.metrics import CHARTED_METRICS, MetricSpec
from gpuwatch_desktop.ui.theme import CURVE_COLORS, Theme


@dataclass(frozen=True, slots=True)
class CurveData:
    name: str  # legend name, e.g. "GPU 3"
    ts: np.ndarray
    values: np.ndarray
    low: np.ndarray | None = None  # min per bucket (history), drawn as a band
    high: np.ndarray | None = None


ZOOM_SETTLE_MS = 400


class _MetricPlot:
    """One plot: a curve per name, an optional min/max band, a vertical crosshair line."""

    def __init__(self, item: pg.PlotItem, spec: MetricSpec) -> None:
        self.item = item
        self.spec = spec
        self.curves: dict[str, CurveData] = {}
        self._lines: list[pg.PlotDataItem] = []  # one per curve, in order
        self._banded = False
        self.crosshair = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#8b949e", width=1))
        self.crosshair.setVisible(False)
        item.addItem(self.crosshair, ignoreBounds=True)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.setMouseEnabled(x=True, y=False)
        item.getViewBox().enableAutoRange(axis="y", enable=True)

    def set_curves(self, curves: Sequence[CurveData]) -> None:
        names = [c.name for c in curves]
        if self._lines and names == list(self.curves) and not self._banded and all(
            c.low is None and c.high is None for c in curves
        ):
            # Same curves with new data (a live refresh): update in place, far cheaper than re-adding items.
            for line, curve in zip(self._lines, curves, strict=True):
                line.setData(curve.ts, curve.values)
            self.curves = dict(zip(names, curves, strict=True))
            return
        self._rebuild(curves)

    def _rebuild(self, curves: Sequence[CurveData]) -> None:
        for data_item in [i for i in self.item.listDataItems()]:
            self.item.removeItem(data_item)
        for extra in [i for i in self.item.items if isinstance(i, pg.FillBetweenItem)]:
            self.item.removeItem(extra)
        self.curves = {c.name: c for c in curves}
        self._lines, self._banded = [], False
        for i, curve in enumerate(curves):
            color = CURVE_COLORS[i % len(CURVE_COLORS)]
            line = self.item.plot(curve.ts, curve.values, pen=pg.mkPen(color, width=1.5), connect="finite")
            if curve.low is not None and curve.high is not None and len(curve.ts) > 1:
                low = pg.PlotDataItem(curve.ts, curve.low, pen=None)
                high = pg.PlotDataItem(curve.ts, curve.high, pen=None)
                fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush(color + "40"))
                self.item.addItem(fill)
                self._banded = True
            line.setZValue(10)
            self._lines.append(line)

    def value_at(self, t: float) -> list[str]:
        parts = []
        for name, curve in self.curves.items():
            if len(curve.ts) == 0:
                continue
            i = int(np.clip(np.searchsorted(curve.ts, t), 0, len(curve.ts) - 1))
            value = curve.values[i]
            shown = "—" if np.isnan(value) else f"{value:.{1 if self.spec.scale >= 10 else 0}f}"
            parts.append(f"{name} {shown}")
        return parts


class MetricCharts(pg.GraphicsLayoutWidget):
    """One plot per charted metric, stacked, sharing the time axis."""

    crosshairMoved = Signal(str)  # the read-out text at the cursor's time
    zoomed = Signal(float, float)  # the user zoomed or panned to this time range (debounced)

    def __init__(self, theme: Theme, specs: Sequence[MetricSpec] = CHARTED_METRICS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.plots: dict[str, _MetricPlot] = {}
        self.following = True  # the time axis follows new data until the user zooms or pans
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(ZOOM_SETTLE_MS)
        self._zoom_timer.timeout.connect(self._on_zoom_settled)
        self._setup_ui(specs)

    def _setup_ui(self, specs: Sequence[MetricSpec]) -> None:
        first: pg.PlotItem | None = None
        for row, spec in enumerate(specs):
            item = self.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            item.setTitle(f"{spec.label} ({spec.unit})" if spec.unit else spec.label, size="9pt")
            item.getAxis("left").setWidth(48)
            if first is None:
                first = item
            else:
                item.setXLink(first)
            item.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_manually)
            self.plots[spec.key] = _MetricPlot(item, spec)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _on_range_changed_manually(self, *_: object) -> None:
        self.following = False
        self._zoom_timer.start()

    def _on_zoom_settled(self) -> None:
        start, end = self.time_range()
        self.zoomed.emit(start, end)

    def time_range(self) -> tuple[float, float]:
        start, end = next(iter(self.plots.values())).item.getViewBox().viewRange()[0]
        return float(start), float(end)

    def set_curves(self, key: str, curves: Sequence[CurveData]) -> None:
        self.plots[key].set_curves(curves)

    def set_time_range(self, start: float, end: float) -> None:
        for plot in self.plots.values():
            plot.item.setXRange(start, end, padding=0)
            break  # the others follow through the x link

    def _on_mouse_moved(self, position: QPointF) -> None:
        for plot in self.plots.values():
            if plot.item.sceneBoundingRect().contains(position):
                t = plot.item.getViewBox().mapSceneToView(position).x()
                self.show_crosshair_at(t)
                return

    def show_crosshair_at(self, t: float) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
        parts = [stamp]
        for plot in self.plots.values():
            plot.crosshair.setPos(t)
            plot.crosshair.setVisible(True)
            values = plot.value_at(t)
            if values:
                parts.append(f"{plot.spec.label}: {', '.join(values)} {plot.spec.unit}".rstrip())
        text = " · ".join(parts)
        self.crosshairMoved.emit(text)
        return text

    def export_png(self, path: Path) -> None:
        if not self.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")

    def export_csv(self, path: Path) -> int:
        """Long format: time, metric, series, value, min, max. Returns the number of rows written."""
        rows = 0
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["time_iso", "unix_time", "metric", "unit", "series", "value", "min", "max"])
            for plot in self.plots.values():
                for curve in plot.curves.values():
                    for i, t in enumerate(curve.ts):
                        low = curve.low[i] if curve.low is not None else curve.values[i]
                        high = curve.high[i] if curve.high is not None else curve.values[i]
                        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
                        writer.writerow([stamp, f"{t:.3f}", plot.spec.key, plot.spec.unit, curve.name,
                                         _num(curve.values[i]), _num(low), _num(high)])
                        rows += 1
        return rows


def _num(value: float) -> str:
    return "" if np.isnan(value) else f"{value:g}"
