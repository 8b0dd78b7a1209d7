"""Shared helpers for the desktop benchmarks: the demo cluster as a context, a history worker, stats."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from gpuwatch_desktop.services.demo import DemoCluster, start_demo_cluster
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.storage import HistoryStore


@asynccontextmanager
async def demo_cluster(nodes: int, gpus: int = 8) -> AsyncIterator[DemoCluster]:
    """The simulated cluster in a child process, as the app starts it; always stopped on exit."""
    cluster = await start_demo_cluster(nodes, gpus=gpus)
    try:
        yield cluster
    finally:
        cluster.stop()


@asynccontextmanager
async def history_worker(directory: Path) -> AsyncIterator[HistoryWorker]:
    """A real HistoryWorker over a HistoryStore file in ``directory``; closed on exit."""
    path = directory / "history.sqlite3"
    worker = HistoryWorker(lambda: HistoryStore(path))
    await worker.open()
    try:
        yield worker
    finally:
        await worker.close()


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
