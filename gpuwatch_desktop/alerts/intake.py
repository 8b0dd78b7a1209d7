"""The engine's own copy of the windows its rules read, so a round costs a few numpy passes.

Asking a window source for 512 GPUs × 10 metrics every round would cost more than the whole
evaluation may take. Instead each round appends the views' new snapshot values to one
``MetricRing`` per metric, and a GPU is caught up from the ``WindowSource`` only when the engine
has no history for it (first round, new GPU, new metric) or its node's snapshots jumped further
than its usual interval (rounds missed, a node back from down, a replay stepping over samples).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Protocol

import numpy as np

from gpuwatch_desktop.alerts.layout import Layout
from gpuwatch_desktop.alerts.windows import MetricRing
from gpuwatch_desktop.core.metrics import DERIVED_INPUTS
from gpuwatch_desktop.core.snapshot import NodeView

GAP_FACTOR = 1.6  # a snapshot this many usual intervals after the previous one means samples were missed
POWER_BITS = 0x4 | 0x80  # throttle reasons: software power cap, hardware power brake


class WindowSource(Protocol):
    """Recent values of one metric of one GPU; ``LiveHistory`` is one. Unknown metric: KeyError."""

    def series(self, node: str, gpu_index: int, key: str, since: float) -> tuple[np.ndarray, np.ndarray]: ...


def derive(key: str, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """A derived metric (core.metrics.DERIVED_METRICS) from its inputs' values, NaN where one is missing."""
    if key == "fb_used_pct":
        used, free = inputs["fb_used"], inputs["fb_free"]
        total = used + free
        return np.divide(100.0 * used, total, out=np.full(len(total), np.nan), where=total > 0)
    reasons = inputs["throttle_reasons"]
    known = ~np.isnan(reasons)
    bits = np.where(known, reasons, 0).astype(np.int64)
    return np.where(known, np.where(bits & POWER_BITS, 100.0, 0.0), np.nan)


def fetch(source: WindowSource, node: str, gpu: int, key: str, since: float) -> tuple[np.ndarray, np.ndarray]:
    """The source's samples of ``key``; a derived metric it does not hold is computed from its inputs."""
    try:
        return source.series(node, gpu, key, since)
    except KeyError:
        if key not in DERIVED_INPUTS:
            raise
    parts = [source.series(node, gpu, name, since) for name in DERIVED_INPUTS[key]]
    times = parts[0][0]
    for other, _ in parts[1:]:
        times = np.intersect1d(times, other)
    names = DERIVED_INPUTS[key]
    inputs = {name: vals[np.searchsorted(ts, times)] for name, (ts, vals) in zip(names, parts, strict=True)}
    return times, derive(key, inputs)


def _none(values: Mapping[str, float]) -> Sequence[float]:
    return ()


def _one(keys: tuple[str, ...]) -> Callable[[Mapping[str, float]], Sequence[float]]:
    """A getter of the one key (itemgetter of one key gives a value, not a tuple), or of none."""
    if not keys:
        return _none
    key = keys[0]
    return lambda values: (values[key],)


class WindowStore:
    def __init__(self) -> None:
        self.rings: dict[str, MetricRing] = {}
        self._keep: dict[str, float] = {}  # metric -> how far back its rules look (s)
        self._raw: tuple[str, ...] = ()  # scraped metrics read from each snapshot
        self._derived: tuple[str, ...] = ()  # derived metrics (a snapshot may carry them, as the preview's do)
        self._getter: Callable[[Mapping[str, float]], Sequence[float]] = _none
        self._node_time: dict[str, float] = {}
        self._node_step: dict[str, float] = {}
        self._rows = 0

    def need(self, keep: Mapping[str, float]) -> None:
        """Keep rings for exactly these metrics, each holding at least its window (s)."""
        self._keep = dict(keep)
        self.rings = {key: self.rings.get(key) or MetricRing(self._rows) for key in keep}
        raw = {key for key in keep if key not in DERIVED_INPUTS}
        raw |= {name for key in keep for name in DERIVED_INPUTS.get(key, ())}
        self._raw = tuple(sorted(raw))
        self._derived = tuple(sorted(key for key in keep if key in DERIVED_INPUTS))
        self._getter = operator.itemgetter(*self._raw) if len(self._raw) > 1 else _one(self._raw)

    def ingest(self, now: float, views: Sequence[NodeView], layout: Layout, source: WindowSource) -> None:
        self._grow(len(layout.gpus))
        if not self.rings:
            return
        unfilled = np.zeros(self._rows, dtype=bool)
        for ring in self.rings.values():
            unfilled |= ring.last_col < 0
        rows, times, values, catch = self._collect(views, layout, unfilled.tolist())
        if not rows:
            return
        if catch:
            self._catch_up(now, catch, layout, source)
        row_array, time_array = np.array(rows, dtype=np.int64), np.array(times)
        columns = self._columns_of(values)
        # Every row in row order (the usual round): the rings write whole columns instead of gathering rows.
        every: slice | None = slice(None) if rows == list(range(self._rows)) else None
        for key, ring in self.rings.items():
            column = columns[key]
            if key in DERIVED_INPUTS:
                column = np.where(np.isnan(column), derive(key, columns), column)
            new = ~(ring.last_time[row_array] >= time_array)  # not already caught up from the source
            if every is not None and new.all():
                ring.push(every, time_array, column, now - self._keep[key])
            else:
                ring.push(row_array[new], time_array[new], column[new], now - self._keep[key])

    def _collect(self, views: Sequence[NodeView], layout: Layout, unfilled: list[bool]
                 ) -> tuple[list[int], list[float], list[Mapping[str, float]], list[int]]:
        """Rows with a new snapshot, its time and values; rows to catch up from the source."""
        rows: list[int] = []
        times: list[float] = []
        values: list[Mapping[str, float]] = []
        catch: list[int] = []
        index = layout.gpu_index
        for view in views:
            snapshot, node = view.snapshot, view.status.node
            if snapshot is None or snapshot.time <= self._node_time.get(node, -math.inf):
                continue
            gap = self._is_gap(node, snapshot.time)
            gpus = snapshot.gpus
            node_rows = [index[node, gpu.index] for gpu in gpus]
            rows += node_rows
            times += [snapshot.time] * len(gpus)
            values += [gpu.values for gpu in gpus]
            catch += node_rows if gap else [row for row in node_rows if unfilled[row]]
        return rows, times, values, catch

    def _columns_of(self, values: list[Mapping[str, float]]) -> dict[str, np.ndarray]:
        """Each metric's column over the GPUs' values (NaN where missing), read at C level where possible."""
        raw, getter, nan, count = self._raw, self._getter, math.nan, len(values)

        def read(gpu: Mapping[str, float]) -> Sequence[float]:
            try:
                return getter(gpu)
            except KeyError:
                return [gpu.get(k, nan) for k in raw]

        try:
            flat = np.fromiter(chain.from_iterable(map(getter, values)), float, count=count * len(raw))
        except KeyError:  # a GPU without some metric: read each GPU on its own
            flat = np.fromiter(chain.from_iterable(map(read, values)), float, count=count * len(raw))
        matrix = flat.reshape(count, len(raw))
        columns = {name: matrix[:, i] for i, name in enumerate(raw)}
        for key in self._derived:  # only a snapshot that carries it (the preview's) has a value here
            columns[key] = np.array([gpu.get(key, nan) for gpu in values], dtype=float)
        return columns

    def _is_gap(self, node: str, time: float) -> bool:
        last = self._node_time.get(node)
        self._node_time[node] = time
        if last is None:
            return True
        interval, usual = time - last, self._node_step.get(node)
        if usual is not None and interval > GAP_FACTOR * usual:
            return True
        self._node_step[node] = interval if usual is None else 0.8 * usual + 0.2 * interval
        return False

    def _catch_up(self, now: float, rows: list[int], layout: Layout, source: WindowSource) -> None:
        """Read what the engine missed of ``rows`` from the source; rows with as many samples fill together."""
        for key, ring in self.rings.items():
            groups: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
            for row in rows:
                node, gpu = layout.gpus[row]
                last = float(ring.last_time[row])
                since = now - self._keep[key] if math.isnan(last) else last
                ts, vs = fetch(source, node, gpu, key, since)
                newer = (ts > last) if not math.isnan(last) else (ts >= since)
                ts, vs = ts[newer], vs[newer]
                if len(ts):
                    groups.setdefault(len(ts), []).append((row, ts, vs))
                if len(ts) > 1:
                    self._node_step[node] = float(np.median(np.diff(ts[-8:])))
            for group in groups.values():
                ring.fill(np.array([g[0] for g in group]), np.array([g[1] for g in group]),
                          np.array([g[2] for g in group]), now - self._keep[key])

    def _grow(self, rows: int) -> None:
        self._rows = rows
        for ring in self.rings.values():
            if ring.rows < rows:
                ring.add_rows(rows - ring.rows)
