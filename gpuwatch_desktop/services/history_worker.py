"""Runs every history-database call on one dedicated worker thread and awaits it from the event loop.

The GUI thread never touches SQLite: opening, writes (once per poll round), chart queries and
retention all go through here. One thread owns the connection, so calls are serialised in order.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.snapshot import NodeSnapshot, NodeStatus
from gpuwatch_desktop.storage import HistoryStore, KnownGpu, SeriesData

T = TypeVar("T")


class HistoryWorker:
    def __init__(self, open_store: Callable[[], HistoryStore]) -> None:
        self._open_store = open_store
        self._store: HistoryStore | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-db")

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    @property
    def store(self) -> HistoryStore:
        if self._store is None:
            raise StorageError("the history database is not open")
        return self._store

    async def open(self) -> None:
        """Open (create, migrate) the database on the worker thread."""
        self._store = await self._call(self._open_store)

    async def run(self, fn: Callable[[HistoryStore], T]) -> T:
        """Run ``fn(store)`` on the database thread: for calls without a wrapper here (alerts, maintenance)."""
        return await self._call(lambda: fn(self.store))

    async def write_round(self, snapshots: Sequence[NodeSnapshot], statuses: Sequence[NodeStatus] = ()) -> int:
        return await self._call(self.store.write_round, snapshots, statuses)

    async def query(
        self, node: str, gpu_index: int, metric_keys: Sequence[str], start: float, end: float,
        max_points: int = 2000,
    ) -> dict[str, SeriesData]:
        return await self._call(self.store.query, node, gpu_index, metric_keys, start, end, max_points)

    async def known_gpus(self) -> list[KnownGpu]:
        return await self._call(self.store.known_gpus)

    async def apply_retention(self, now: float) -> int:
        return await self._call(self.store.apply_retention, now)

    async def close(self) -> None:
        """Finish queued work, close the database on its own thread, stop the thread."""
        try:
            if self._store is not None:
                await self._call(self._store.close)
        finally:
            self._store = None
            self._executor.shutdown(wait=True)
