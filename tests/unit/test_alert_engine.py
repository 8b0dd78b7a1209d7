"""The alert engine's state machine on a real LiveHistory: for, hysteresis, keep-firing, no duplicates, resolve."""

from __future__ import annotations

import pytest

from gpuwatch_desktop.core.alerts import AlertRule, AlertState, SeriesKey
from tests.unit.test_alert_support import Cluster, one

IN, P, F, R = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED
HOT = AlertRule("hot", "GPU too hot", metric="gpu_temp", threshold=85.0, for_s=10.0, window_s=30.0,
                description="GPU {gpu} on {node} at {value}{unit}")


def test_pending_until_for_then_firing_once_with_the_filled_in_description() -> None:
    cluster = Cluster([HOT])
    cluster.run(8, one("gpu_temp", 90))  # held 2..8 s: pending, not yet 10 s
    assert cluster.states() == [(IN, P)]
    result = cluster.run(6, one("gpu_temp", 91))
    assert cluster.states() == [(IN, P), (P, F)]
    fired = cluster.events[-1]
    assert fired.time - cluster.events[0].time == pytest.approx(10.0)
    assert (fired.node, fired.gpu, fired.value, fired.summary) == ("n1", 0, 91.0, "GPU 0 on n1 at 91°C")
    [active] = result.active
    assert (active.key, active.state, active.value) == (SeriesKey("hot", "n1", 0), F, 91.0)
    assert active.active_since == cluster.events[0].time and active.since == fired.time


def test_for_zero_fires_at_once_and_staying_in_a_state_emits_nothing() -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0)])
    cluster.run(20, one("gpu_temp", 90))
    cluster.run(20, one("gpu_temp", 70))
    assert cluster.states() == [(IN, F), (F, R)]


def test_resolves_after_recovery_and_leaves_the_active_list() -> None:
    cluster = Cluster([HOT])
    cluster.run(20, one("gpu_temp", 90))
    result = cluster.run(2, one("gpu_temp", 60))
    assert cluster.states()[-1] == (F, R) and cluster.events[-1].value == 60.0
    assert result.active == []


def test_pending_that_stops_holding_goes_back_to_inactive_without_resolving() -> None:
    cluster = Cluster([HOT])
    cluster.run(4, one("gpu_temp", 90))
    result = cluster.run(4, one("gpu_temp", 80))
    assert cluster.states() == [(IN, P), (P, IN)]
    assert result.active == []


def test_hysteresis_keeps_firing_until_below_the_clear_threshold() -> None:
    rule = AlertRule("hot", "hot", threshold=85.0, clear_threshold=80.0)
    cluster = Cluster([rule])
    cluster.run(4, one("gpu_temp", 90))
    cluster.run(10, one("gpu_temp", 82))  # under the threshold, above the clear threshold
    assert cluster.states() == [(IN, F)]
    cluster.run(2, one("gpu_temp", 79))
    assert cluster.states() == [(IN, F), (F, R)]
    cluster.run(2, one("gpu_temp", 82))  # from inactive the plain threshold applies again
    assert cluster.states() == [(IN, F), (F, R)]


def test_keep_firing_holds_the_alert_that_long_after_the_condition_stops() -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0, keep_firing_s=10.0)])
    cluster.run(4, one("gpu_temp", 90))
    cluster.run(8, one("gpu_temp", 70))  # first seen stopped 6 s ago
    assert cluster.states() == [(IN, F)]
    cluster.run(2, one("gpu_temp", 90))  # holds again: the keep-firing timer restarts
    cluster.run(10, one("gpu_temp", 70))  # first seen stopped 8 s ago
    assert cluster.states() == [(IN, F)]
    cluster.run(2, one("gpu_temp", 70))  # 10 s: resolved
    assert cluster.states() == [(IN, F), (F, R)]
    assert cluster.events[-1].time - cluster.events[0].time == pytest.approx(24.0)


def test_acknowledged_until_resolved() -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0)])
    key = SeriesKey("hot", "n1", 0)
    assert not cluster.engine.acknowledge(key)  # nothing active yet
    cluster.run(4, one("gpu_temp", 90))
    assert cluster.engine.acknowledge(key)
    [active] = cluster.run(2, one("gpu_temp", 90)).active
    assert active.acknowledged
    cluster.run(2, one("gpu_temp", 60))
    [active] = cluster.run(2, one("gpu_temp", 90)).active
    assert not active.acknowledged  # a new episode is not acknowledged
    assert not cluster.engine.acknowledge(SeriesKey("hot", "elsewhere", 0))
    assert not cluster.engine.acknowledge(SeriesKey("nope", "n1", 0))


def test_series_are_independent_per_gpu_and_node() -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0)])
    cluster.run(2, {"n1": {0: {"gpu_temp": 90}, 1: {"gpu_temp": 50}}, "n2": {0: {"gpu_temp": 95}}})
    fired = {(e.node, e.gpu) for e in cluster.events}
    assert fired == {("n1", 0), ("n2", 0)}


def test_a_node_leaving_the_views_ends_its_series() -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0)])
    cluster.run(2, {"n1": {0: {"gpu_temp": 90}}, "n2": {0: {"gpu_temp": 90}}})
    result = cluster.run(2, {"n2": {0: {"gpu_temp": 90}}})
    assert [(e.node, e.previous, e.state) for e in cluster.events[2:]] == [("n1", F, R)]
    assert [a.key.node for a in result.active] == ["n2"]
