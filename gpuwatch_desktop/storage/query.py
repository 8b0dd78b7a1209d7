"""Range queries for charts: at most ``max_points`` points per series, bucketed in SQL.

The range [start, end] is cut into equal buckets of ``width`` whole seconds so that there
are fewer than ``max_points`` of them. Rows come from ``rollup`` (one per minute) for the
part of the range before a split time and from ``raw`` after it:

- buckets narrower than ``RAW_BUCKET_LIMIT_S`` (ranges up to ~8 h at 2000 points): raw rows
  wherever they exist (they are kept ~48 h), rollups for older times;
- wider buckets: rollups up to the last completed minute, raw after it (the newest, not yet
  rolled-up seconds). Rollups keep min and max, so the envelope of a long range is exact;
  grouping ~30x fewer rows keeps a 24 h or 7-day query to tens of milliseconds.

The split is aligned to the bucket grid so both parts together never exceed ``max_points``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import peewee

from gpuwatch_desktop.core.metrics import METRICS_BY_KEY, MetricSpec
from gpuwatch_desktop.storage.schema import rollup_columns

FloatArray = npt.NDArray[np.float64]
RAW_BUCKET_LIMIT_S = 15
ROLLUP_S = 60  # a rollup row covers [ts, ts + 60)


def _frozen(values: FloatArray) -> FloatArray:
    values.setflags(write=False)
    return values


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One metric over time, in the metric's units; NaN where there was no value.

    Arrays are read-only and may be shared between series of one query (``ts``).
    For raw points ``min`` and ``max`` equal ``mean``.
    """

    ts: FloatArray  # unix seconds, ascending
    mean: FloatArray
    min: FloatArray
    max: FloatArray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> SeriesData:
        nothing = _frozen(np.empty(0, dtype=np.float64))
        return cls(nothing, nothing, nothing, nothing)


def check_args(keys: Sequence[str], start: float, end: float, max_points: int) -> list[MetricSpec]:
    """Validate query arguments; raises ValueError saying what is wrong."""
    unknown = [k for k in keys if k not in METRICS_BY_KEY]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS_BY_KEY)}")
    if not (math.isfinite(start) and math.isfinite(end)) or start > end:
        raise ValueError(f"invalid time range: start={start!r} end={end!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    return [METRICS_BY_KEY[k] for k in keys]


_WHERE = " WHERE gpu_id = ? AND ts >= ? AND ts < ?"


def _select(table: str, specs: Sequence[MetricSpec]) -> str:
    """Rows of (ts, then mean, min, max per metric), one per bucket of the grid."""
    parts = []
    for spec in specs:
        if table == "raw":
            lo = mean = hi = spec.key
        else:
            lo, mean, hi = rollup_columns(spec.key)
        parts.append(f"AVG({mean}), MIN({lo}), MAX({hi})")
    return f"SELECT MIN(ts), {', '.join(parts)} FROM {table}{_WHERE} GROUP BY (ts - ?) / ? ORDER BY 1"


def _raw_rows(
    db: peewee.SqliteDatabase,
    gpu_id: int,
    specs: Sequence[MetricSpec],
    grid: tuple[int, int],
    span: tuple[int, int],
    budget: int,
) -> list[tuple[object, ...]]:
    """Raw rows in [split, end) as they are when at most ``budget``, else one per grid bucket."""
    args = (gpu_id, *span)
    if db.execute_sql(f"SELECT COUNT(*) FROM raw{_WHERE}", args).fetchone()[0] <= budget:
        columns = ", ".join(f"{s.key}, {s.key}, {s.key}" for s in specs)
        return db.execute_sql(f"SELECT ts, {columns} FROM raw{_WHERE} ORDER BY ts", args).fetchall()
    return db.execute_sql(_select("raw", specs), (*args, *grid)).fetchall()


def _split(
    db: peewee.SqliteDatabase, gpu_id: int, lo: int, hi: int, width: int, rollup_until: int | None
) -> int:
    """Time from which raw rows are used (rollups before it), aligned to the bucket grid."""
    if width < RAW_BUCKET_LIMIT_S:
        first = db.execute_sql("SELECT MIN(ts) FROM raw WHERE gpu_id = ?", (gpu_id,)).fetchone()[0]
        edge = hi + 1 if first is None else int(first)
    else:
        edge = lo if rollup_until is None else rollup_until
    edge = min(max(edge, lo), hi + 1)
    return lo + (edge - lo) // width * width


def query_series(
    db: peewee.SqliteDatabase,
    gpu_id: int,
    specs: Sequence[MetricSpec],
    start: float,
    end: float,
    max_points: int,
    rollup_until: int | None,
) -> dict[str, SeriesData]:
    """Series for ``specs`` of one GPU over [start, end]; see the module docstring."""
    lo, hi = math.floor(start), math.ceil(end)
    width = (hi - lo) // max_points + 1  # so (hi - lo) // width < max_points: bucket index fits
    split = _split(db, gpu_id, lo, hi, width, rollup_until)
    rows: list[tuple[object, ...]] = []
    rollup_end = split // ROLLUP_S * ROLLUP_S  # a rollup minute reaching past ``split`` would repeat raw rows
    if specs and rollup_end > lo:
        rows += db.execute_sql(_select("rollup", specs), (gpu_id, lo, rollup_end, lo, width)).fetchall()
    if specs and split <= hi:
        rows += _raw_rows(db, gpu_id, specs, (lo, width), (split, hi + 1), max_points - len(rows))
    return _to_series(rows, specs)


def _to_series(rows: list[tuple[object, ...]], specs: Sequence[MetricSpec]) -> dict[str, SeriesData]:
    if not rows:
        return {spec.key: SeriesData.empty() for spec in specs}
    table = np.array(rows, dtype=np.float64)  # NULL (None) becomes NaN
    ts = _frozen(np.ascontiguousarray(table[:, 0]))
    out: dict[str, SeriesData] = {}
    for i, spec in enumerate(specs):
        mean, low, high = (_frozen(table[:, 1 + 3 * i + j] / spec.scale) for j in range(3))
        out[spec.key] = SeriesData(ts, mean, low, high)
    return out
