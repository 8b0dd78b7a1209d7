"""The engine's numpy windows against a naive per-sample oracle (hypothesis): any mix of rounds, gaps, catch-ups."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.alerts.aggregate import aggregate, coverage
from gpuwatch_desktop.alerts.windows import MetricRing
from gpuwatch_desktop.core.alerts import Aggregation

KEEP = 40.0  # the ring must hold at least this many seconds


def oracle(samples: list[tuple[float, float]], since: float, how: Aggregation) -> float:
    values = [(t, v) for t, v in samples if t >= since and not math.isnan(v)]
    if not values:
        return math.nan
    vs = [v for _, v in values]
    if how is Aggregation.LAST:
        return vs[-1]
    if how is Aggregation.MEAN:
        return sum(vs) / len(vs)
    if how is Aggregation.MAX:
        return max(vs)
    if how is Aggregation.MIN:
        return min(vs)
    if len(vs) < 2 or values[-1][0] == values[0][0]:
        return math.nan
    increase = sum(b - a if b >= a else b for a, b in itertools.pairwise(vs))  # a drop is a reset
    return increase / (values[-1][0] - values[0][0])


def covered(samples: list[tuple[float, float]], since: float) -> bool:
    times = [t for t, v in samples if t >= since and not math.isnan(v)]
    return len(times) > 1 and times[0] - since <= 1.5 * (times[-1] - times[0]) / (len(times) - 1)


value = st.one_of(st.integers(0, 50).map(float), st.just(math.nan))
# Per round and row: nothing, one sample (pushed), or several (caught up, as from a window source).
action = st.one_of(st.none(), st.just(1), st.integers(2, 6))
rounds = st.lists(st.tuples(st.sampled_from([1.0, 2.0, 3.0]), st.lists(st.tuples(action, value), min_size=3,
                                                                        max_size=3)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(rounds=rounds, window=st.sampled_from([0.5, 3.0, 7.0, 20.0, 40.0]), offset=st.floats(0, 1))
def test_window_aggregates_match_the_oracle(rounds: list, window: float, offset: float) -> None:
    ring = MetricRing(3, capacity=4)
    kept: list[list[tuple[float, float]]] = [[], [], []]
    now, counter = 0.0, 0
    for step, per_row in rounds:
        previous, now = now, now + step
        pushes: list[tuple[int, float]] = []
        fills: dict[int, list[tuple[int, np.ndarray]]] = {}  # rows caught up together share a sample count
        for row, (kind, v) in enumerate(per_row):
            if kind == 1:
                pushes.append((row, v))
            elif kind:
                counter += 1
                fills.setdefault(kind, []).append((row, np.array([v if i % 2 else float((counter + i) % 7)
                                                                  for i in range(kind)])))
        for kind, group in fills.items():
            times = np.linspace(previous, now, kind + 1)[1:]  # strictly after the rows' newest samples
            ring.fill(np.array([r for r, _ in group]), np.tile(times, (len(group), 1)),
                      np.array([vs for _, vs in group]), now - KEEP)
            for row, vs in group:
                kept[row] += zip(times.tolist(), vs.tolist(), strict=True)
        if pushes:
            rows = np.array([r for r, _ in pushes])
            ring.push(rows, np.full(len(rows), now - offset), np.array([v for _, v in pushes]), now - KEEP)
            for r, v in pushes:
                kept[r].append((now - offset, v))
    since = now - window
    w = ring.window(since)
    for how in Aggregation:
        got = aggregate(w, how)
        want = np.array([oracle(samples, since, how) for samples in kept])
        assert np.allclose(got, want, equal_nan=True), (how, got, want)
    assert coverage(w).tolist() == [covered(samples, since) for samples in kept]


def test_ring_grows_rather_than_dropping_samples_inside_the_window() -> None:
    ring = MetricRing(2, capacity=4)
    for i in range(100):
        ring.push(np.array([0, 1]), np.full(2, float(i)), np.array([i, -i], dtype=float), keep_since=i - 50.0)
    w = ring.window(49.0)
    assert aggregate(w, Aggregation.MIN).tolist() == [49.0, -99.0]
    assert aggregate(w, Aggregation.MEAN).tolist() == [74.0, -74.0]


def test_ring_drops_what_no_window_needs() -> None:
    ring = MetricRing(1, capacity=8)
    for i in range(1000):
        ring.push(np.array([0]), np.array([float(i)]), np.array([float(i)]), keep_since=i - 5.0)
    assert ring.values.shape[1] <= 32  # not one column per round
    assert aggregate(ring.window(995.0), Aggregation.MEAN).tolist() == [997.0]
