"""Loads stored history for the detail view off the GUI thread (the view itself has no async code)."""

from __future__ import annotations

import asyncio

import qasync
from PySide6.QtCore import QObject

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import CHARTED_METRICS
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.storage import SeriesData
from gpuwatch_desktop.ui.detail import GpuDetailView

MAX_GPUS_PER_NODE = 64


class HistoryController(QObject):
    def __init__(self, history: HistoryWorker, view: GpuDetailView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._history = history
        self._view = view
        self._request = 0
        view.historyRequested.connect(self._on_history_requested)

    @qasync.asyncSlot(str, object, float, float)
    async def _on_history_requested(self, node: str, gpu_index: int | None, start: float, end: float) -> None:
        self._request += 1
        request = self._request
        keys = [m.key for m in CHARTED_METRICS]
        indexes = [gpu_index] if gpu_index is not None else await self._gpu_indexes(node)
        try:
            results = await asyncio.gather(*(self._history.query(node, i, keys, start, end) for i in indexes))
        except StorageError as exc:
            self._view.show_error(f"Could not read history: {exc}")
            return
        if request != self._request:
            return  # a newer request superseded this one while it ran
        history: dict[int, dict[str, SeriesData]] = dict(zip(indexes, results, strict=True))
        self._view.show_history(history, start, end)

    async def _gpu_indexes(self, node: str) -> list[int]:
        known = await self._history.known_gpus()
        return sorted(gpu.gpu_index for gpu in known if gpu.node == node)[:MAX_GPUS_PER_NODE]
