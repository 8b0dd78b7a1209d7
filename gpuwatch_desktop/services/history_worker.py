"""Runs every history-database call on one dedicated worker thread and awaits it from the event loop.

The GUI thread never touches SQLite: writes (once per poll round), chart queries and retention all go
through here. One thread owns the connection, so calls are serialised in order.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gpuwatch_desktop.core.snapshot import NodeSnapshot
from gpuwatch_desktop.storage.history import HistoryStore, SeriesData

T = TypeVar("T")


class HistoryWorker:
    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-db")

    async def _call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def open(self) -> None:
        await self._call(self.store.open)

    async def write_round(self, snapshots: Sequence[NodeSnapshot]) -> int:
        return await self._call(self.store.write_round, snapshots)

    async def query(
        self, node: str, gpu_index: int, metric_keys: Sequence[str], start: float, end: float,
        max_points: int = 2000,
    ) -> dict[str, SeriesData]:
        return await self._call(self.store.query, node, gpu_index, metric_keys, start, end, max_points)

    async def known_gpus(self) -> list[tuple[str, int, str, str]]:
        return await self._call(self.store.known_gpus)

    async def apply_retention(self, now: float) -> None:
        await self._call(self.store.apply_retention, now)

    async def close(self) -> None:
        """Finish queued work, close the database on its own thread, stop the thread."""
        try:
            await self._call(self.store.close)
        finally:
            self._executor.shutdown(wait=True)
