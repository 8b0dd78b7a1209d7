"""Window aggregates for every row at once: last, mean, max, min, rate (Prometheus counter semantics), coverage.

Most rows are regular: a sample in every column of the window. For them each aggregate reads
the window once without copying it; only the window's first few columns (``Window.head``),
which may straddle its start, are masked. Rows with gaps (a stale node, a metric the GPU does
not report) are recomputed on a masked copy of just those rows.
"""

from __future__ import annotations

import numpy as np

from gpuwatch_desktop.alerts.windows import Window
from gpuwatch_desktop.core.alerts import Aggregation


def aggregate(window: Window, how: Aggregation) -> np.ndarray:
    """One value per row over the samples at or after ``window.since``; NaN where there are none (rate: < 2)."""
    rows = window.values.shape[0]
    if window.values.shape[1] == 0:
        return np.full(rows, np.nan)
    if how is Aggregation.MAX or how is Aggregation.MIN:
        ufunc = np.fmax if how is Aggregation.MAX else np.fmin
        body = _reduce(ufunc, _body(window))
        return ufunc(body, _reduce(ufunc, _head(window))) if window.head else body  # fmax/fmin skip NaN
    fast = {Aggregation.MEAN: _fast_mean, Aggregation.LAST: _fast_last, Aggregation.RATE: _fast_rate}[how]
    result, irregular = fast(window)
    slow = {Aggregation.MEAN: _mean, Aggregation.LAST: _last, Aggregation.RATE: _rate}[how]
    return _redo(result, irregular, window, slow)


def coverage(window: Window) -> np.ndarray:
    """Rows whose samples reach back to the window's start (the first within 1.5 sample spacings of it)."""
    count, first, last = _span(window)
    reach = np.divide(1.5 * (last - first), count - 1, out=np.full(len(count), np.inf), where=count > 1)
    with np.errstate(invalid="ignore"):
        return (count > 1) & (first - window.since <= reach)


def _body(window: Window) -> np.ndarray:
    return window.values[:, window.head:]


def _head(window: Window) -> np.ndarray:
    head = slice(0, window.head)
    return np.where(window.times[:, head] >= window.since, window.values[:, head], np.nan)


def _reduce(ufunc: np.ufunc, block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 0:
        return np.full(block.shape[0], np.nan)
    return ufunc.reduce(block, axis=1)


def _redo(result: np.ndarray, irregular: np.ndarray, window: Window, slow: object) -> np.ndarray:
    """Recompute the irregular rows on a masked copy of just them."""
    rows = np.flatnonzero(irregular)
    if len(rows):
        times, values = window.times[rows], window.values[rows]
        inside = np.where(times >= window.since, values, np.nan)
        result[rows] = slow(np.where(np.isnan(inside), np.nan, times), inside)  # type: ignore[operator]
    return result


def _fast_mean(window: Window) -> tuple[np.ndarray, np.ndarray]:
    body = _body(window)
    total = body.sum(axis=1)  # NaN for rows with a gap: redone
    if not window.head:
        return total / body.shape[1], np.isnan(total)
    head = _head(window)
    head_valid = ~np.isnan(head)
    count = body.shape[1] + head_valid.sum(axis=1)
    total = total + np.where(head_valid, head, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(len(total), np.nan), where=count > 0), np.isnan(total)


def _fast_last(window: Window) -> tuple[np.ndarray, np.ndarray]:
    last = window.values[:, -1].copy()
    irregular = np.isnan(last) | ~(window.times[:, -1] >= window.since)
    return last, irregular


def _fast_rate(window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a sample in every body column: increase = last - first + the value before each reset."""
    body, rows = _body(window), window.values.shape[0]
    if body.shape[1] == 0:
        return np.full(rows, np.nan), np.ones(rows, dtype=bool)
    times = window.times[:, window.head:]
    drops = body[:, 1:] < body[:, :-1]
    increase = body[:, -1] - body[:, 0]
    if drops.any():  # rows with a counter reset: add the value before each
        reset = np.flatnonzero(drops.any(axis=1))
        increase[reset] += np.where(drops[reset], body[reset, :-1], 0.0).sum(axis=1)
    first, first_time = body[:, 0], times[:, 0]
    head, head_times = _head(window), window.times[:, :window.head]
    for col in range(window.head - 1, -1, -1):  # extend back over in-window head samples
        value = head[:, col]
        known = ~np.isnan(value)
        step = np.where(first >= value, first - value, first)
        increase = np.where(known, increase + step, increase)
        first, first_time = np.where(known, value, first), np.where(known, head_times[:, col], first_time)
    span = times[:, -1] - first_time
    with np.errstate(invalid="ignore"):
        ok = span > 0
    rate = np.divide(increase, span, out=np.full(rows, np.nan), where=ok)
    return rate, np.isnan(body.sum(axis=1)) | np.isnan(span)  # a gap anywhere: redone


def _mean(times: np.ndarray, inside: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(inside)
    count = valid.sum(axis=1)
    total = np.where(valid, inside, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)


def _last(times: np.ndarray, inside: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(inside)
    column = inside.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    return inside[np.arange(len(inside)), column]  # NaN when the row has no valid sample


def _rate(times: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per-second increase between the first and last sample; a drop is a counter reset (Prometheus)."""
    rows, cols = inside.shape
    valid = ~np.isnan(inside)
    index = np.where(valid, np.arange(cols), -1)
    previous = np.maximum.accumulate(index, axis=1)[:, :-1]  # newest valid column before each column
    current = inside[:, 1:]
    before = np.take_along_axis(inside, np.maximum(previous, 0), axis=1)
    stepped = valid[:, 1:] & (previous >= 0)
    increase = np.where(stepped, np.where(current >= before, current - before, current), 0.0).sum(axis=1)
    span = _reduce(np.fmax, times) - _reduce(np.fmin, times)
    with np.errstate(invalid="ignore"):
        ok = (valid.sum(axis=1) > 1) & (span > 0)
    return np.divide(increase, span, out=np.full(rows, np.nan), where=ok)


def _span(window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: number of in-window samples, first and last sample time (fast for regular rows)."""
    body_times = window.times[:, window.head:]
    body_values = _body(window)
    head = _head(window)
    head_valid = ~np.isnan(head)
    count = body_times.shape[1] + head_valid.sum(axis=1)
    first = body_times[:, 0] if body_times.shape[1] else np.full(len(count), np.nan)
    for col in range(window.head - 1, -1, -1):
        first = np.where(head_valid[:, col], window.times[:, col], first)
    last = body_times[:, -1] if body_times.shape[1] else np.full(len(count), np.nan)
    if not body_values.shape[1]:
        irregular = np.flatnonzero(head_valid.any(axis=1))
    elif window.gap_col is not None:  # rows with a gap in the body, as the ring tracks them (no pass over it)
        irregular = np.flatnonzero(window.gap_col >= window.body_col)
    else:
        irregular = np.flatnonzero(np.isnan(body_values.sum(axis=1)))
    if len(irregular):
        times = window.times[irregular]
        stamped = np.where((times >= window.since) & ~np.isnan(window.values[irregular]), times, np.nan)
        count[irregular] = (~np.isnan(stamped)).sum(axis=1)
        first[irregular], last[irregular] = _reduce(np.fmin, stamped), _reduce(np.fmax, stamped)
    return count, first, last
