"""HistoryStore on real SQLite files: round trips, rollups, retention, chart queries."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus
from gpuwatch_desktop.storage import HistoryStore, KnownGpu, ScrapeRecord

T0 = 1_700_000_040  # a minute boundary (divisible by 60)


def snap(
    node: str, t: float, values: Mapping[str, float], index: int = 0, uuid: str = "GPU-1"
) -> NodeSnapshot:
    return NodeSnapshot(node, node, t, (GpuSnapshot(index, uuid, "H100", "0000:01:00.0", dict(values)),))


def fill(store: HistoryStore, start: float, count: int, step: float = 2.0) -> list[float]:
    """One GPU on node 'n', gpu_util = a noisy but known sequence; returns the values."""
    rng = np.random.default_rng(7)
    values = [float(v) for v in rng.integers(0, 101, count)]
    for i, value in enumerate(values):
        store.write_round([snap("n", start + i * step, {"gpu_util": value, "power": value * 3.3})])
    return values


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_round_trip_keeps_values_and_missing_values(store: HistoryStore) -> None:
    assert store.write_round([snap("n", T0, {"gpu_util": 45, "power": 250.26, "gpu_temp": 71})]) == 1
    store.write_round([snap("n", T0 + 2, {"gpu_util": 50, "power": 251.0})])  # no temperature
    got = store.query("n", 0, ["gpu_util", "power", "gpu_temp", "fb_used"], T0, T0 + 2)
    assert list(got["gpu_util"].ts) == [T0, T0 + 2]
    assert list(got["gpu_util"].mean) == [45, 50]
    assert got["power"].mean == pytest.approx([250.3, 251.0])  # stored with one decimal (scale 10)
    assert got["gpu_temp"].mean[0] == 71 and math.isnan(got["gpu_temp"].mean[1])
    assert np.isnan(got["fb_used"].mean).all()
    for series in got.values():
        np.testing.assert_array_equal(series.min, series.mean)
        np.testing.assert_array_equal(series.max, series.mean)


def test_values_are_rounded_to_the_metric_scale_and_unstorable_ones_are_missing(store: HistoryStore) -> None:
    values = {"power": 123.46, "gpu_temp": 71.6, "sm_clock": math.nan, "fb_used": math.inf, "energy": 1e30}
    store.write_round([snap("n", T0, values)])
    got = store.query("n", 0, list(values), T0, T0)
    assert got["power"].mean[0] == pytest.approx(123.5)
    assert got["gpu_temp"].mean[0] == 72
    for key in ("sm_clock", "fb_used", "energy"):
        assert math.isnan(got[key].mean[0])


def test_a_second_row_in_the_same_second_replaces_the_first(store: HistoryStore) -> None:
    store.write_round([snap("n", T0 + 0.2, {"gpu_util": 10})])
    store.write_round([snap("n", T0 + 0.7, {"gpu_util": 20})])
    got = store.query("n", 0, ["gpu_util"], T0, T0 + 1)["gpu_util"]
    assert list(got.mean) == [20]


def minute_query(store: HistoryStore, first_minute: int, keys: list[str]) -> dict[str, np.ndarray]:
    """Query whose buckets are exactly the minutes from ``first_minute`` (width 60 s)."""
    got = store.query("n", 0, keys, first_minute, first_minute + 2000 * 60 - 1, max_points=2000)
    return {k: np.stack([s.ts, s.min, s.mean, s.max]) for k, s in got.items()}


def test_rollups_hold_min_mean_max_of_each_completed_minute(store: HistoryStore) -> None:
    values = fill(store, T0, 90)  # three minutes at 2 s
    store.write_round([snap("n", T0 + 240, {"gpu_util": 0})])  # a later round completes them
    got = minute_query(store, T0, ["gpu_util", "power"])
    for minute in range(3):
        chunk = np.array(values[minute * 30 : minute * 30 + 30])
        ts, low, mean, high = got["gpu_util"][:, minute]
        assert ts == T0 + 60 * minute
        assert (low, high) == (chunk.min(), chunk.max())
        assert mean == np.floor(chunk.mean() + 0.5)  # mean kept at the metric's resolution
        power = np.round(chunk * 3.3 * 10)  # stored fixed point, 0.1 W
        assert got["power"][1:, minute] == pytest.approx(
            [power.min() / 10, np.floor(power.mean() + 0.5) / 10, power.max() / 10]
        )


def test_a_minute_split_by_a_restart_is_rolled_up_whole(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as first:
        first.write_round([snap("n", T0 + 5, {"gpu_util": 10})])
    with HistoryStore(path) as second:
        second.write_round([snap("n", T0 + 50, {"gpu_util": 90})])
        second.write_round([snap("n", T0 + 200, {"gpu_util": 0})])
        ts, low, mean, high = minute_query(second, T0, ["gpu_util"])["gpu_util"][:, 0]
    assert (ts, low, mean, high) == (T0, 10, 50, 90)


def test_retention_drops_raw_rows_first_then_rollups(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3", raw_retention_s=600, rollup_retention_s=1800) as store:
        values = fill(store, T0, 900)  # 30 minutes
        now = T0 + 1800
        deleted = store.apply_retention(now)
        assert deleted == 600  # the first 20 minutes of raw rows (2 s apart)
        old = store.query("n", 0, ["gpu_util"], T0, T0 + 299, max_points=1000)["gpu_util"]
        assert list(old.ts) == [T0 + 60 * m for m in range(5)]  # rollups, one per minute
        assert old.max[0] == max(values[:30]) and old.min[0] == min(values[:30])
        recent = store.query("n", 0, ["gpu_util"], now - 300, now, max_points=1000)["gpu_util"]
        assert len(recent) == 150 and list(recent.mean) == values[-150:]  # raw rows, untouched
        store.apply_retention(now + 1800)
        assert len(store.query("n", 0, ["gpu_util"], T0, now, max_points=1000)["gpu_util"]) == 0
        assert store.known_gpus() == [KnownGpu("n", 0, "GPU-1", "H100")]


@pytest.fixture(scope="module")
def long_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryStore]:
    """Two hours of 2 s rows, then 8 days of 5-minute rows before them (rollups only)."""
    path = tmp_path_factory.mktemp("long") / "h.sqlite3"
    with HistoryStore(path, raw_retention_s=7200) as store:
        fill(store, T0 - 8 * 86400, 8 * 288, step=300)
        fill(store, T0, 3600)
        store.apply_retention(T0 + 7200)
        yield store


@settings(deadline=None, max_examples=60)
@given(
    start=st.integers(T0 - 9 * 86400, T0 + 7300),
    span=st.integers(0, 10 * 86400),
    max_points=st.integers(1, 3000),
)
def test_queries_never_return_more_than_max_points(
    long_store: HistoryStore, start: int, span: int, max_points: int
) -> None:
    got = long_store.query("n", 0, ["gpu_util", "power"], start, start + span, max_points)["gpu_util"]
    assert len(got) <= max_points
    assert np.all(np.diff(got.ts) > 0)
    assert np.all((got.ts >= start) & (got.ts <= start + span))
    assert np.all((got.min <= got.mean) & (got.mean <= got.max))


def test_long_ranges_keep_extremes_and_recent_seconds(long_store: HistoryStore) -> None:
    week = long_store.query("n", 0, ["gpu_util"], T0 - 7 * 86400, T0 + 7200, max_points=500)["gpu_util"]
    assert 400 <= len(week) <= 500
    assert week.max.max() == 100 and week.min.min() == 0
    assert week.ts[-1] > T0 + 7200 - 3600  # the newest data shows up at the right edge
    hour = long_store.query("n", 0, ["gpu_util"], T0, T0 + 3600, max_points=5000)["gpu_util"]
    assert len(hour) == 1801  # short range: every raw row as it is
    assert np.array_equal(hour.min, hour.max)


def test_a_long_range_shows_the_seconds_not_rolled_up_yet(store: HistoryStore) -> None:
    for i in range(60):  # two minutes of quiet values, then a spike in the minute still running
        store.write_round([snap("n", T0 + 2 * i, {"gpu_temp": 40 + i % 3})])
    store.write_round([snap("n", T0 + 125, {"gpu_temp": 95})])
    week = store.query("n", 0, ["gpu_temp"], T0 + 126 - 7 * 86400, T0 + 126)["gpu_temp"]
    assert (week.ts[-1], week.max[-1]) == (T0 + 125, 95)  # the spike is at the right edge
    assert week.max[:-1].max() == 42 and week.min.min() == 40


def test_unknown_gpu_gives_empty_series_and_bad_arguments_raise_value_error(store: HistoryStore) -> None:
    assert len(store.query("nowhere", 0, ["gpu_util"], T0, T0 + 60)["gpu_util"]) == 0
    with pytest.raises(ValueError, match="unknown metric"):
        store.query("n", 0, ["gpu_utilisation"], T0, T0 + 60)
    with pytest.raises(ValueError, match="time range"):
        store.query("n", 0, ["gpu_util"], T0 + 60, T0)
    with pytest.raises(ValueError, match="max_points"):
        store.query("n", 0, ["gpu_util"], T0, T0 + 60, max_points=0)


def test_known_gpus_and_latest_time(store: HistoryStore) -> None:
    assert store.known_gpus() == [] and store.latest_time() is None
    store.write_round([snap("b", T0, {"gpu_util": 1}, 1, "GPU-b1"), snap("a", T0 + 3, {}, 0, "GPU-a0")])
    store.write_round([snap("b", T0 + 9.5, {"gpu_util": 2}, index=1, uuid="GPU-b1-new")])  # card replaced
    assert store.known_gpus() == [KnownGpu("a", 0, "GPU-a0", "H100"), KnownGpu("b", 1, "GPU-b1-new", "H100")]
    assert store.latest_time() == T0 + 9
    assert list(store.query("b", 1, ["gpu_util"], T0, T0 + 10)["gpu_util"].mean) == [1, 2]


def test_scrape_status_per_round_is_kept(store: HistoryStore) -> None:
    up = NodeStatus("a", NodeState.UP, last_attempt=T0, scrape_ms=12.4, sample_count=300)
    down = NodeStatus("b", NodeState.DOWN, reason="timeout", last_attempt=T0 + 0.5, scrape_ms=2000)
    never = NodeStatus("c")  # not polled yet: nothing to record
    store.write_round([snap("a", T0, {"gpu_util": 5})], statuses=[up, down, never])
    assert store.scrape_history("a", T0, T0 + 60) == [ScrapeRecord(T0, "up", 12.0, 300)]
    assert store.scrape_history("b", T0, T0 + 60) == [ScrapeRecord(T0, "down", 2000.0, 0)]
    assert store.scrape_history("c", T0, T0 + 60) == []


def test_a_minute_with_raw_rows_is_not_also_read_from_its_rollup(tmp_path: Path) -> None:
    """Raw data starting mid-minute: the rollup of that minute must not duplicate the raw rows."""
    from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot

    with HistoryStore(tmp_path / "h.sqlite3") as store:
        base = 1_800_000_000 - 1_800_000_000 % 60
        for i in range(5):  # 10:00:30, 10:01:30, ...: each minute has one raw row and, later, a rollup
            t = base + 30 + 60 * i
            gpu = GpuSnapshot(0, "GPU-0", "H100", "0:0", {"gpu_util": float(i)})
            store.write_round([NodeSnapshot("n", "h", float(t), (gpu,))])
        data = store.query("n", 0, ["gpu_util"], base - 60, base + 300)["gpu_util"]
    assert data.mean.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
