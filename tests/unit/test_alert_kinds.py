"""Window aggregations, the special rule kinds, derived metrics and scopes, as a user sees them in events."""

from __future__ import annotations

import pytest

from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertRule,
    AlertState,
    Comparator,
    LabelMatcher,
    MatchOp,
    RuleKind,
    Scope,
)
from gpuwatch_desktop.core.snapshot import NodeState
from tests.unit.test_alert_support import Cluster, one

F = AlertState.FIRING


def value_when_fired(rule: AlertRule, metric: str, values: list[float]) -> float | None:
    cluster = Cluster([rule])
    for value in values:
        cluster.poll(one(metric, value))
    fired = [e for e in cluster.events if e.state is F]
    assert fired, f"{rule.name} never fired"
    return fired[0].value


@pytest.mark.parametrize(("aggregation", "comparator", "threshold", "expected"), [
    (Aggregation.MEAN, Comparator.GT, 70.0, 75.0),  # 50..100 all inside the 10 s window
    (Aggregation.MAX, Comparator.GE, 100.0, 100.0),
    (Aggregation.MIN, Comparator.GT, 45.0, 50.0),
    (Aggregation.LAST, Comparator.EQ, 100.0, 100.0),
])
def test_aggregations_over_the_window(aggregation: Aggregation, comparator: Comparator, threshold: float,
                                      expected: float) -> None:
    rule = AlertRule("r", "r", aggregation=aggregation, window_s=10.0, comparator=comparator, threshold=threshold)
    assert value_when_fired(rule, "gpu_temp", [50, 60, 70, 80, 90, 100]) == expected


def test_window_forgets_samples_older_than_it() -> None:
    rule = AlertRule("r", "r", aggregation=Aggregation.MAX, window_s=4.0, comparator=Comparator.LT, threshold=60)
    # max over the last 4 s only drops under 60 once the 90 is more than 4 s old
    cluster = Cluster([rule])
    for value in (90, 50, 50):
        cluster.poll(one("gpu_temp", value))
    assert cluster.events == []
    cluster.poll(one("gpu_temp", 50))
    assert [e.value for e in cluster.events] == [50.0]


def test_rate_of_a_counter_handles_a_reset_like_prometheus() -> None:
    rule = AlertRule("r", "replays", metric="pcie_replay", aggregation=Aggregation.RATE, window_s=60.0,
                     comparator=Comparator.GT, threshold=0.0)
    cluster = Cluster([rule])
    for value in (100, 110, 120, 5):
        cluster.poll(one("pcie_replay", value))
    result = cluster.poll(one("pcie_replay", 15))
    assert result is not None
    [active] = result.active
    assert active.value == pytest.approx(35 / 8)  # +10 +10, reset to 5 (counts as +5), +10: 35 over 8 s


def test_rate_needs_two_samples() -> None:
    rule = AlertRule("r", "r", metric="pcie_replay", aggregation=Aggregation.RATE, window_s=60.0,
                     comparator=Comparator.GE, threshold=0.0)
    cluster = Cluster([rule])
    cluster.poll(one("pcie_replay", 7))
    assert [e.state for e in cluster.events] == [AlertState.NO_DATA]
    cluster.poll(one("pcie_replay", 7))
    assert [e.state for e in cluster.events] == [AlertState.NO_DATA, F]


def test_idle_needs_the_whole_window_observed_and_names_the_wasted_cost() -> None:
    rule = AlertRule("idle", "Idle", kind=RuleKind.IDLE, window_s=60.0, threshold=5.0,
                     description="{node}/{gpu} idle (peak {value} %), wasting {cost}")
    cluster = Cluster([rule])
    cluster.engine.set_prices({"H100": 2.5})
    cluster.run(58, one("gpu_util", 1))  # observed for 58 s: not yet covered
    assert cluster.events == []
    cluster.run(2, one("gpu_util", 3))
    [event] = cluster.events
    assert (event.state, event.value, event.summary) == (F, 3.0, "n1/0 idle (peak 3 %), wasting $2.50/h")
    cluster.run(2, one("gpu_util", 40))
    assert cluster.events[-1].state is AlertState.RESOLVED


def test_idle_cost_unknown_without_a_price() -> None:
    rule = AlertRule("idle", "Idle", kind=RuleKind.IDLE, window_s=10.0, threshold=5.0, description="{cost}")
    cluster = Cluster([rule])
    cluster.run(12, one("gpu_util", 0))
    assert cluster.events[0].summary == "unknown"


def test_xid_fires_with_the_code_and_a_zero_xid_does_not() -> None:
    rule = AlertRule("xid", "XID", kind=RuleKind.XID, window_s=60.0, description="XID {value}")
    cluster = Cluster([rule])
    cluster.run(6, one("xid", 0))
    assert cluster.events == []
    cluster.poll(one("xid", 79))
    assert [(e.state, e.value, e.summary) for e in cluster.events] == [(F, 79.0, "XID 79")]


def test_node_down_is_node_level_with_the_failure_count_and_waits_for() -> None:
    rule = AlertRule("down", "Node down", kind=RuleKind.NODE_DOWN, for_s=4.0)
    cluster = Cluster([rule])
    cluster.run(4, {"n1": {0: {"gpu_temp": 50}}, "n2": {0: {"gpu_temp": 50}}})
    down = {"states": {"n2": NodeState.DOWN}, "failures": 3}
    cluster.run(4, {"n1": {0: {"gpu_temp": 50}}, "n2": {}}, **down)
    assert [(e.node, e.gpu, e.state) for e in cluster.events] == [("n2", None, AlertState.PENDING)]
    result = cluster.run(2, {"n1": {0: {"gpu_temp": 50}}, "n2": {}}, **down)
    assert [(e.node, e.state, e.value) for e in cluster.events[1:]] == [("n2", F, 3.0)]
    assert [a.key.gpu for a in result.active] == [None]
    cluster.run(2, {"n1": {0: {"gpu_temp": 50}}, "n2": {0: {"gpu_temp": 50}}})
    assert cluster.events[-1].state is AlertState.RESOLVED


def test_memory_share_is_derived_from_used_and_free() -> None:
    rule = AlertRule("mem", "mem", metric="fb_used_pct", threshold=95.0)
    cluster = Cluster([rule])
    cluster.poll({"n1": {0: {"fb_used": 90.0, "fb_free": 10.0}}})
    assert cluster.events == []
    cluster.poll({"n1": {0: {"fb_used": 97.0, "fb_free": 3.0}}})
    assert [e.value for e in cluster.events] == [97.0]


def test_power_capped_share_from_the_throttle_bits() -> None:
    rule = AlertRule("pw", "pw", metric="power_capped", aggregation=Aggregation.MEAN, window_s=6.0, threshold=50.0)
    cluster = Cluster([rule])
    for reasons in (0x20, 0x1, 0x4, 0x24):  # thermal, idle: not power; SW power cap (alone or with thermal)
        cluster.poll(one("throttle_reasons", reasons))
    assert cluster.events == []  # 2 of 4 capped: 50 %, not above
    cluster.poll(one("throttle_reasons", 0x80))  # hardware power brake: 3 of the last 4
    assert [e.value for e in cluster.events] == [75.0]


@pytest.mark.parametrize(("scope", "expected"), [
    (Scope(node="n2"), {("n2", 0), ("n2", 1)}),
    (Scope(gpu=1), {("n1", 1), ("n2", 1)}),
    (Scope(node="n1", gpu=0), {("n1", 0)}),
    (Scope(matchers=(LabelMatcher("model", MatchOp.RE, ".*A100.*"),)), {("n2", 0), ("n2", 1)}),
    (Scope(matchers=(LabelMatcher("node", MatchOp.NE, "n1"), LabelMatcher("gpu", MatchOp.EQ, "0"))), {("n2", 0)}),
    (Scope(matchers=(LabelMatcher("hostname", MatchOp.NRE, "host-n2"),)), {("n1", 0), ("n1", 1)}),
    (Scope(matchers=(LabelMatcher("uuid", MatchOp.EQ, "GPU-n1-1"),)), {("n1", 1)}),
])
def test_scope_by_node_gpu_and_label_matchers(scope: Scope, expected: set[tuple[str, int]]) -> None:
    cluster = Cluster([AlertRule("hot", "hot", threshold=85.0, scope=scope)])
    hot = {0: {"gpu_temp": 90.0}, 1: {"gpu_temp": 90.0}}
    cluster.poll({"n1": hot, "n2": hot}, models={"n2": "NVIDIA A100-SXM4-80GB"})
    assert {(e.node, e.gpu) for e in cluster.events} == expected


def test_a_price_set_later_shows_in_the_active_alert() -> None:
    rule = AlertRule("idle", "Idle", kind=RuleKind.IDLE, window_s=10.0, threshold=5.0, description="{cost}")
    cluster = Cluster([rule])
    assert [a.summary for a in cluster.run(12, one("gpu_util", 0)).active] == ["unknown"]
    cluster.engine.set_prices({"NVIDIA H100 80GB HBM3": 3.0, "H100": 1.0})  # the exact model name wins
    assert [a.summary for a in cluster.run(2, one("gpu_util", 0)).active] == ["$3.00/h"]
