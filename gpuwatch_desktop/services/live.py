"""In-memory ring buffers of recent values per GPU, for the live charts (no database round trip)."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence

import numpy as np

from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import NodeSnapshot

_KEYS = tuple(m.key for m in GPU_METRICS)
_COLUMN = {key: i for i, key in enumerate(_KEYS)}
_ROW = operator.itemgetter(*_KEYS)  # a GPU's values in column order


class GpuRing:
    """A fixed-capacity ring of (time, every metric) rows for one GPU."""

    def __init__(self, capacity: int) -> None:
        self._times = np.full(capacity, np.nan)
        self._values = np.full((capacity, len(_KEYS)), np.nan)
        self._next = 0
        self._count = 0

    def append(self, time: float, values: Mapping[str, float]) -> None:
        try:
            row: Sequence[float] = _ROW(values)  # every metric there (the usual case): one C-level call
        except KeyError:
            row = [values.get(key, math.nan) for key in _KEYS]
        self._values[self._next] = row
        self._times[self._next] = time
        self._next = (self._next + 1) % len(self._times)
        self._count = min(self._count + 1, len(self._times))

    def series(self, key: str, since: float = float("-inf")) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one metric in time order (copies), from ``since`` on."""
        order = self._order()
        times = self._times[order]
        values = self._values[order, _COLUMN[key]]
        keep = times >= since
        return times[keep], values[keep]

    def _order(self) -> np.ndarray:
        capacity = len(self._times)
        if self._count < capacity:
            return np.arange(self._count)
        return (np.arange(capacity) + self._next) % capacity


class LiveHistory:
    """Recent values for every GPU of every node, fed with each successful snapshot."""

    def __init__(self, capacity: int = 900) -> None:
        self._capacity = capacity
        self._rings: dict[tuple[str, int], GpuRing] = {}
        self._last_time: dict[str, float] = {}

    def add(self, snapshot: NodeSnapshot) -> None:
        if self._last_time.get(snapshot.node) == snapshot.time:
            return
        self._last_time[snapshot.node] = snapshot.time
        for gpu in snapshot.gpus:
            key = (snapshot.node, gpu.index)
            ring = self._rings.get(key)
            if ring is None:
                ring = self._rings[key] = GpuRing(self._capacity)
            ring.append(snapshot.time, gpu.values)

    def series(
        self, node: str, gpu_index: int, key: str, since: float = float("-inf")
    ) -> tuple[np.ndarray, np.ndarray]:
        ring = self._rings.get((node, gpu_index))
        if ring is None:
            return np.empty(0), np.empty(0)
        return ring.series(key, since)

    def forget(self, node: str) -> None:
        self._rings = {k: v for k, v in self._rings.items() if k[0] != node}
        self._last_time.pop(node, None)
