"""The cluster overview: one card per node, one painted tile per GPU, coloured by threshold."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.metrics import metric
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeState, NodeView
from gpuwatch_desktop.ui.theme import Theme

TILE_COLUMNS = 4  # until the overview knows its width
MAX_COLUMNS = 8
TILE_STEP = 156  # a tile's minimum width plus the grid spacing
CARD_MARGINS = 40
ALL_GPUS = -1  # gpuClicked index meaning "every GPU of the node"
_WORST = {"none": 0, "ok": 1, "warn": 2, "crit": 3}


def gpu_level(gpu: GpuSnapshot) -> str:
    """The worst threshold level over the tile's metrics (memory by share of the total)."""
    levels = [metric(k).level(gpu.value(k)) for k in ("gpu_temp", "mem_temp", "xid", "ecc_dbe")]
    used, free = gpu.value("fb_used"), gpu.value("fb_free")
    if used is not None and free is not None and used + free > 0:
        share = used / (used + free)
        levels.append("crit" if share >= 0.97 else "warn" if share >= 0.9 else "ok")
    return max(levels, key=_WORST.__getitem__)


class GpuTile(QWidget):
    """Paints one GPU: index, utilisation and memory bars, temperature and power."""

    clicked = Signal(int)

    def __init__(self, index: int, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self._theme = theme
        self._gpu: GpuSnapshot | None = None
        self._stale = False
        self.selected = False
        self.setMinimumSize(QSize(150, 78))
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_gpu(self, gpu: GpuSnapshot | None, stale: bool) -> None:
        self._gpu, self._stale = gpu, stale
        self.setToolTip(self._tooltip())
        self.update()

    def _tooltip(self) -> str:
        if self._gpu is None:
            return f"GPU {self.index}: no data"
        lines = [f"GPU {self._gpu.index} · {self._gpu.model}", self._gpu.uuid]
        for key in ("gpu_util", "fb_used", "gpu_temp", "power", "sm_clock", "xid"):
            value = self._gpu.value(key)
            spec = metric(key)
            lines.append(f"{spec.label}: {'—' if value is None else f'{value:g} {spec.unit}'}")
        return "\n".join(lines)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.index)
        event.accept()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        theme, gpu = self._theme, self._gpu
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        level = "none" if gpu is None or self._stale else gpu_level(gpu)
        border = QColor(theme.accent) if self.selected else theme.level_color(level)
        painter.setPen(border)
        painter.setBrush(QColor(theme.tile))
        painter.drawRoundedRect(rect, 5, 5)
        painter.setPen(QColor(theme.muted if self._stale or gpu is None else theme.text))
        bold = QFont(painter.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(rect.adjusted(6, 4, -6, 0), Qt.AlignmentFlag.AlignLeft, f"GPU {self.index}")
        painter.setFont(self.font())
        if gpu is None:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "no data")
            return
        temp, power = gpu.value("gpu_temp"), gpu.value("power")
        right = f"{_fmt(temp, '°C')} · {_fmt(power, ' W')}"
        painter.setPen(theme.level_color(metric("gpu_temp").level(temp)) if not self._stale else QColor(theme.muted))
        painter.drawText(rect.adjusted(6, 4, -6, 0), Qt.AlignmentFlag.AlignRight, right)
        util = gpu.value("gpu_util")
        used, free = gpu.value("fb_used"), gpu.value("fb_free")
        mem_share = used / (used + free) if used is not None and free and used + free > 0 else None
        self._bar(painter, rect, 30, "util", None if util is None else util / 100, f"{_fmt(util, '%')}")
        self._bar(painter, rect, 52, "mem", mem_share, f"{_fmt(None if used is None else used / 1024, 'G')}")

    def _bar(self, painter: QPainter, rect: QRectF, top: float, label: str, share: float | None, text: str) -> None:
        theme = self._theme
        painter.setPen(QColor(theme.muted))
        painter.drawText(QRectF(rect.left() + 6, rect.top() + top, 34, 16), Qt.AlignmentFlag.AlignVCenter, label)
        track = QRectF(rect.left() + 40, rect.top() + top + 3, rect.width() - 88, 10)
        painter.fillRect(track, QColor(theme.base))
        if share is not None:
            fill = QRectF(track.left(), track.top(), track.width() * max(0.0, min(1.0, share)), track.height())
            color = QColor(theme.stale if self._stale else theme.accent)
            painter.fillRect(fill, color)
        painter.setPen(QColor(theme.text))
        painter.drawText(QRectF(track.right() + 4, rect.top() + top, 44, 16), Qt.AlignmentFlag.AlignVCenter, text)


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.0f}{unit}"


def describe_age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


class NodeCard(QFrame):
    """One node: name, state badge with the reason, host and model line, and its GPU tiles."""

    gpuClicked = Signal(str, int)

    def __init__(self, node: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.node = node
        self._theme = theme
        self._tiles: dict[int, GpuTile] = {}
        self._columns = TILE_COLUMNS
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.setObjectName("nodeCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        self.name_label = QLabel(f"<b>{self.node}</b>")
        self.state_label = QLabel()
        self.state_label.setObjectName("stateBadge")
        header.addWidget(self.name_label)
        header.addWidget(self.state_label)
        header.addStretch(1)
        self.all_button = QPushButton("All GPUs")
        self.all_button.setFlat(True)
        self.all_button.setToolTip("Chart every GPU of this node together")
        self.all_button.clicked.connect(lambda: self.gpuClicked.emit(self.node, ALL_GPUS))
        header.addWidget(self.all_button)
        self.age_label = QLabel()
        header.addWidget(self.age_label)
        layout.addLayout(header)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        layout.addWidget(self.info_label)
        self._grid = QGridLayout()
        self._grid.setSpacing(6)
        layout.addLayout(self._grid)

    def show_view(self, view: NodeView, selected: tuple[str, int] | None) -> None:
        status, snapshot = view.status, view.snapshot
        color = self._theme.state_color(status.state).name()
        self.state_label.setText(f"<span style='color:{color}'>● {status.state.value}</span>")
        self.state_label.setToolTip(status.reason)
        stale = status.state in (NodeState.STALE, NodeState.DOWN)
        info = []
        if snapshot is not None:
            models = sorted({g.model for g in snapshot.gpus})
            info.append(f"{snapshot.hostname} · {len(snapshot.gpus)} × {', '.join(models)}")
            self.age_label.setText(describe_age(time.time() - snapshot.time))
        self.age_label.setToolTip(
            f"last scrape {status.scrape_ms:.0f} ms, {status.sample_count} samples, "
            f"{status.consecutive_failures} failures in a row"
        )
        if status.reason:
            info.append(f"<span style='color:{color}'>{status.reason}</span>")
        self.info_label.setText("<br>".join(info) or "waiting for the first scrape…")
        self.info_label.setToolTip("\n".join(snapshot.notes) if snapshot else "")
        gpus = snapshot.gpus if snapshot else ()
        for gpu in gpus:
            tile = self._tile(gpu.index)
            tile.selected = selected == (self.node, gpu.index)
            tile.set_gpu(gpu, stale)

    def _tile(self, index: int) -> GpuTile:
        tile = self._tiles.get(index)
        if tile is None:
            tile = self._tiles[index] = GpuTile(index, self._theme, self)
            tile.clicked.connect(lambda i, n=self.node: self.gpuClicked.emit(n, i))
            position = len(self._tiles) - 1
            self._grid.addWidget(tile, position // self._columns, position % self._columns)
        return tile

    def set_columns(self, columns: int) -> None:
        """Lay the tiles out in this many columns (the overview follows its width)."""
        if columns == self._columns:
            return
        self._columns = columns
        for position, index in enumerate(sorted(self._tiles)):
            tile = self._tiles[index]
            self._grid.removeWidget(tile)
            self._grid.addWidget(tile, position // columns, position % columns)


class OverviewView(QScrollArea):
    """All node cards in a scrollable column."""

    gpuSelected = Signal(str, int)

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._cards: dict[str, NodeCard] = {}
        self.selected: tuple[str, int] | None = None
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.setWidgetResizable(True)
        self.setMinimumWidth(TILE_STEP + CARD_MARGINS)  # at least one whole column of tiles
        body = QWidget()
        self._column = QVBoxLayout(body)
        self._column.addStretch(1)
        self.setWidget(body)

    def columns_for_width(self) -> int:
        return max(1, min(MAX_COLUMNS, (self.viewport().width() - CARD_MARGINS) // TILE_STEP))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        columns = self.columns_for_width()
        for card in self._cards.values():
            card.set_columns(columns)

    def set_nodes(self, names: list[str]) -> None:
        for name in list(self._cards):
            if name not in names:
                self._cards.pop(name).deleteLater()
        for name in names:
            if name not in self._cards:
                card = self._cards[name] = NodeCard(name, self._theme)
                card.set_columns(self.columns_for_width())
                card.gpuClicked.connect(self._on_gpu_clicked)
                self._column.insertWidget(self._column.count() - 1, card)

    def show_views(self, views: list[NodeView]) -> None:
        for view in views:
            card = self._cards.get(view.status.node)
            if card is not None:
                card.show_view(view, self.selected)

    def card(self, node: str) -> NodeCard | None:
        return self._cards.get(node)

    def _on_gpu_clicked(self, node: str, index: int) -> None:
        self.selected = (node, index)
        self.gpuSelected.emit(node, index)
