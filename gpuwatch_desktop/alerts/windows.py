"""Recent samples of one metric for every GPU, kept as numpy columns so a window aggregates in a few passes.

A ``MetricRing`` holds a row per GPU and a column per evaluation round: each round opens one
column and every GPU with a new sample writes it there. A GPU caught up from a window source
writes several samples into its own free (older) columns; columns are opened for everyone only
when those do not suffice. Columns live in a buffer a quarter wider than the capacity and are
moved to its front when it fills, so a window is always one contiguous slice (a view, no copy).
``col_max``/``col_min`` keep each column's newest and oldest sample time: a window reads only the
columns that may hold samples inside it, and masks only its first few, which may straddle its start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_COLUMNS = 8192  # a window longer than this many samples is evaluated over the newest ones


def _width(capacity: int) -> int:
    """Buffer width for a capacity: the spare quarter is filled before the live columns move to the front."""
    return capacity + max(16, capacity // 4)


@dataclass(frozen=True, slots=True)
class Window:
    times: np.ndarray  # rows × columns, oldest first (NaN: no sample)
    values: np.ndarray
    head: int  # leading columns that may hold samples before ``since``
    since: float
    gap_col: np.ndarray | None = None  # per row: absolute number of its newest column without a value
    body_col: int = 0  # absolute number of the first column after the head


class MetricRing:
    def __init__(self, rows: int, capacity: int = 64) -> None:
        self._cap = capacity
        width = _width(capacity)
        self.times = np.full((rows, width), np.nan)
        self.values = np.full((rows, width), np.nan)
        self.col_max = np.full(width, -np.inf)
        self.col_min = np.full(width, np.inf)
        self._base = 0  # absolute number of the buffer's column 0
        self._start = self._end = 0  # live columns: buffer[start:end]
        self.last_col = np.full(rows, -1, dtype=np.int64)  # absolute number of each row's newest column
        self.last_time = np.full(rows, np.nan)  # time of each row's newest sample
        self.gap_col = np.full(rows, -1, dtype=np.int64)  # absolute number of each row's newest column without a value

    @property
    def rows(self) -> int:
        return len(self.last_col)

    def add_rows(self, count: int) -> None:
        width = self.times.shape[1]
        self.times = np.vstack([self.times, np.full((count, width), np.nan)])
        self.values = np.vstack([self.values, np.full((count, width), np.nan)])
        self.last_col = np.concatenate([self.last_col, np.full(count, -1, dtype=np.int64)])
        self.last_time = np.concatenate([self.last_time, np.full(count, np.nan)])
        self.gap_col = np.concatenate([self.gap_col, np.full(count, self._base + self._end - 1, dtype=np.int64)])

    def push(self, rows: np.ndarray | slice, times: np.ndarray, values: np.ndarray, keep_since: float) -> None:
        """One new sample for each of ``rows`` (or every row: ``slice(None)``), in one new column."""
        if len(times) == 0:
            return
        self._open(1, keep_since)
        col = self._end - 1
        self.times[rows, col] = times
        self.values[rows, col] = values
        self.col_max[col] = max(self.col_max[col], float(times.max()))
        self.col_min[col] = min(self.col_min[col], float(times.min()))
        self.last_col[rows] = self._base + col
        self.last_time[rows] = times
        missing = np.isnan(values)
        if isinstance(rows, slice):  # every row has a sample here, some may be NaN
            if missing.any():
                self.gap_col[missing] = self._base + col
        else:
            valued = np.zeros(self.rows, dtype=bool)
            valued[rows] = ~missing
            self.gap_col[~valued] = self._base + col

    def fill(self, rows: np.ndarray, times: np.ndarray, values: np.ndarray, keep_since: float) -> None:
        """Several samples for each of ``rows`` (2-D, one row of samples each, oldest first, same count)."""
        count = min(times.shape[1], MAX_COLUMNS - 1)
        if len(rows) == 0 or count == 0:
            return
        times, values = times[:, -count:], values[:, -count:]
        self._grow(count + 1)
        first_free = np.maximum(self.last_col[rows] + 1, self._base + self._start)
        free = int(np.min(self._base + self._end - first_free))
        if count > free:
            self._open(count - free, keep_since)
            others = np.ones(self.rows, dtype=bool)
            others[rows] = False
            self.gap_col[others] = self._base + self._end - 1  # the new columns hold nothing for them
        cols = np.arange(self._end - count, self._end)
        self.times[rows[:, None], cols[None, :]] = times
        self.values[rows[:, None], cols[None, :]] = values
        np.maximum.at(self.col_max, cols, np.nanmax(times, axis=0))
        np.minimum.at(self.col_min, cols, np.nanmin(times, axis=0))
        self.last_col[rows] = self._base + self._end - 1
        self.last_time[rows] = times[:, -1]
        missing = np.isnan(self.values[rows, self._start:self._end])  # filled rows: their newest gap again
        newest = missing.shape[1] - 1 - np.argmax(missing[:, ::-1], axis=1)
        self.gap_col[rows] = np.where(missing.any(axis=1), self._base + self._start + newest, -1)

    def window(self, since: float) -> Window:
        """The live columns that may hold samples at or after ``since`` (views into the buffer)."""
        recent = self.col_max[self._start:self._end] >= since
        first = self._start + (int(np.argmax(recent)) if recent.any() else len(recent))
        early = np.flatnonzero(self.col_min[first:self._end] < since)
        head = int(early[-1]) + 1 if len(early) else 0
        return Window(self.times[:, first:self._end], self.values[:, first:self._end], head, since,
                      self.gap_col, self._base + first + head)

    def _open(self, count: int, keep_since: float) -> None:
        """Open ``count`` empty columns, growing rather than dropping columns still needed."""
        drop = self._end - self._start + count - self._cap
        if drop > 0 and np.any(self.col_max[self._start:self._start + drop] >= keep_since):
            self._grow(self._end - self._start + count)
            drop = self._end - self._start + count - self._cap
        if drop > 0:
            self._start = min(self._end, self._start + drop)
        if self._end + count > self.times.shape[1]:
            self._move(self.times.shape[1])
        new = slice(self._end, self._end + count)
        self.times[:, new] = np.nan
        self.values[:, new] = np.nan
        self.col_max[new], self.col_min[new] = -np.inf, np.inf
        self._end += count

    def _grow(self, needed: int) -> None:
        if needed > self._cap and self._cap < MAX_COLUMNS:
            self._cap = min(MAX_COLUMNS, max(needed, self._cap * 3 // 2))
            self._move(_width(self._cap))

    def _move(self, width: int) -> None:
        """Move the live columns to the front of a buffer ``width`` wide (the same one if it fits)."""
        live = slice(self._start, self._end)
        count = self._end - self._start
        for name, fill in (("times", np.nan), ("values", np.nan)):
            old = getattr(self, name)
            new = old if width == old.shape[1] else np.full((self.rows, width), fill)
            new[:, :count] = old[:, live]
            setattr(self, name, new)
        for name, fill in (("col_max", -np.inf), ("col_min", np.inf)):
            old = getattr(self, name)
            new = np.full(width, fill)
            new[:count] = old[live]
            setattr(self, name, new)
        self._base += self._start
        self._start, self._end = 0, count
