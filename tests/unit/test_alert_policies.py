"""Missing data and errors, silences, rule changes, restarts and history the engine did not see itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpuwatch_desktop.alerts import AlertEngine
from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    Aggregation,
    AlertRule,
    AlertState,
    MissingPolicy,
    SeriesKey,
    Severity,
    Silence,
)
from gpuwatch_desktop.core.snapshot import NodeState, NodeStatus, NodeView
from gpuwatch_desktop.services.live import LiveHistory
from tests.unit.test_alert_support import T0, Cluster, one, snapshot

IN, P, F, R = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED
N, E = AlertState.NO_DATA, AlertState.ERROR
HOT = AlertRule("hot", "hot", threshold=85.0, window_s=10.0)


@pytest.mark.parametrize(("policy", "expected"), [
    (MissingPolicy.STATE, [(IN, F), (F, N)]),
    (MissingPolicy.ALERTING, [(IN, F)]),
    (MissingPolicy.OK, [(IN, F), (F, R)]),
    (MissingPolicy.KEEP_LAST, [(IN, F)]),
])
def test_no_data_policy_when_the_node_answers_without_the_metric(policy: MissingPolicy, expected: list) -> None:
    cluster = Cluster([replace(HOT, no_data=policy)])
    cluster.run(2, one("gpu_temp", 90))
    cluster.run(20, one("power", 300))  # the temperature stops coming; after 10 s the window is empty
    assert cluster.states() == expected


def test_no_data_state_is_listed_as_active_and_leaves_when_data_returns() -> None:
    cluster = Cluster([HOT])
    result = cluster.run(2, one("power", 300))
    assert [(a.state, a.value) for a in result.active] == [(N, None)]
    result = cluster.run(2, one("gpu_temp", 50))
    assert cluster.states() == [(IN, N), (N, IN)] and result.active == []


@pytest.mark.parametrize(("policy", "expected"), [
    (MissingPolicy.STATE, [(IN, F), (F, E)]),
    (MissingPolicy.ALERTING, [(IN, F)]),
    (MissingPolicy.OK, [(IN, F), (F, R)]),
    (MissingPolicy.KEEP_LAST, [(IN, F)]),
])
def test_error_policy_when_the_node_is_stale(policy: MissingPolicy, expected: list) -> None:
    cluster = Cluster([replace(HOT, on_error=policy)])
    cluster.run(2, one("gpu_temp", 90))
    cluster.run(20, one("gpu_temp", 90), states={"n1": NodeState.STALE})
    assert cluster.states() == expected


def test_a_pending_series_with_alerting_policy_fires_after_for_without_data() -> None:
    cluster = Cluster([replace(HOT, window_s=1.0, for_s=6.0, no_data=MissingPolicy.ALERTING)])
    cluster.run(2, one("gpu_temp", 90))
    cluster.run(20, one("power", 300))
    assert cluster.states() == [(IN, P), (P, F)]
    assert cluster.events[-1].value is None


def test_silences_mark_events_and_alerts_but_record_them() -> None:
    cluster = Cluster([HOT, replace(HOT, id="other")])
    cluster.engine.set_silences([Silence("s", "hot", "n1", T0, T0 + 10, "maintenance")])
    result = cluster.run(4, {"n1": {0: {"gpu_temp": 90}}, "n2": {0: {"gpu_temp": 90}}})
    silenced = {(e.rule_id, e.node): e.silenced for e in cluster.events}
    assert silenced == {("hot", "n1"): True, ("hot", "n2"): False, ("other", "n1"): False, ("other", "n2"): False}
    assert sorted((a.key.rule_id, a.key.node) for a in result.active if a.silenced) == [("hot", "n1")]
    result = cluster.run(10, {"n1": {0: {"gpu_temp": 90}}, "n2": {0: {"gpu_temp": 90}}})  # the silence ended
    assert not any(a.silenced for a in result.active)


def test_set_rules_keeps_state_when_only_presentation_changes() -> None:
    cluster = Cluster([replace(HOT, for_s=6.0)])
    cluster.run(4, one("gpu_temp", 90))
    cluster.engine.set_rules([replace(HOT, for_s=6.0, name="renamed", severity=Severity.CRITICAL, description="x")])
    result = cluster.run(4, one("gpu_temp", 90))
    assert cluster.states() == [(IN, P), (P, F)]  # pending carried over: fires 6 s after it started
    assert cluster.events[1].time - cluster.events[0].time == 6.0
    assert (cluster.events[-1].rule_name, cluster.events[-1].severity, cluster.events[-1].summary) == (
        "renamed", Severity.CRITICAL, "x")
    assert result.active[0].rule_name == "renamed"


def test_changing_a_condition_ends_the_series_and_starts_afresh() -> None:
    cluster = Cluster([HOT])
    cluster.run(2, one("gpu_temp", 90))
    cluster.engine.set_rules([replace(HOT, threshold=80.0, for_s=4.0)])
    cluster.run(2, one("gpu_temp", 90))
    assert cluster.states() == [(IN, F), (F, R), (IN, P)]


@pytest.mark.parametrize("change", ["remove", "disable"])
def test_removing_or_disabling_a_rule_resolves_its_firing_series(change: str) -> None:
    cluster = Cluster([HOT, replace(HOT, id="pending", for_s=60.0)])
    cluster.run(2, one("gpu_temp", 90))
    cluster.engine.set_rules([] if change == "remove" else [replace(HOT, enabled=False)])
    result = cluster.run(2, one("gpu_temp", 90))
    assert sorted((e.rule_id, e.previous, e.state) for e in cluster.events[2:]) == [
        ("hot", F, R), ("pending", P, IN)]
    assert result.active == []
    cluster.run(10, one("gpu_temp", 90))
    assert len(cluster.events) == 4  # nothing more from a disabled rule


def test_invalid_rules_are_refused_and_the_old_set_kept() -> None:
    engine = AlertEngine([HOT])
    with pytest.raises(ValueError, match="metric"):
        engine.set_rules([replace(HOT, metric="nope")])
    with pytest.raises(ValueError, match="used twice"):
        engine.set_rules([HOT, HOT])
    assert engine.rules == (HOT,)


def restored(state: AlertState, since: float) -> ActiveAlert:
    return ActiveAlert(SeriesKey("hot", "n1", 0), "hot", state, Severity.WARNING, since, since - 4, 90.0, "hot",
                       acknowledged=True)


def test_restore_resumes_firing_without_events_then_resolves() -> None:
    cluster = Cluster([HOT])
    cluster.engine.restore([restored(F, T0 - 100)])
    result = cluster.run(2, one("gpu_temp", 90))
    assert cluster.events == []
    [active] = result.active
    assert (active.state, active.since, active.acknowledged) == (F, T0 - 100, True)
    cluster.run(2, one("gpu_temp", 50))
    assert cluster.states() == [(F, R)]


def test_restored_pending_fires_when_its_for_elapses_from_the_original_start() -> None:
    cluster = Cluster([replace(HOT, for_s=60.0)])
    cluster.engine.restore([restored(P, T0 - 57)])  # pending since T0 - 61
    cluster.run(2, one("gpu_temp", 90))
    assert cluster.states() == [(P, F)]


def test_restore_waits_for_a_node_first_scrape_and_drops_unknown_rules() -> None:
    cluster = Cluster([HOT])
    gone = replace(restored(F, T0), key=SeriesKey("gone", "n1", 0))
    cluster.engine.restore([restored(F, T0), gone])
    waiting = cluster.engine.evaluate(T0 + 1, [NodeView(NodeStatus("n1"))], cluster.history)
    assert waiting.active == [] and waiting.events == []
    result = cluster.run(2, one("gpu_temp", 90))
    assert [(a.key.rule_id, a.state) for a in result.active] == [("hot", F)] and cluster.events == []


def test_history_before_the_engine_started_counts() -> None:
    history = LiveHistory()
    for i, temp in enumerate((80, 90, 100)):
        history.add(snapshot("n1", T0 + 2 * i, {0: {"gpu_temp": temp}}))
    rule = AlertRule("mean", "mean", aggregation=Aggregation.MEAN, window_s=60.0, threshold=85.0)
    cluster = Cluster([rule], history=history)
    cluster.now = T0 + 4
    result = cluster.run(2, one("gpu_temp", 100))  # the engine's first round: catches up from the history
    assert result.active[0].value == pytest.approx(92.5)


def test_rounds_the_engine_skipped_are_read_back_from_the_history() -> None:
    rule = AlertRule("mean", "mean", aggregation=Aggregation.MEAN, window_s=60.0, threshold=0.0)
    cluster = Cluster([rule])
    for temp in (10, 10, 10):
        cluster.poll(one("gpu_temp", temp))
    for temp in (100, 100, 100):  # polled and stored, not evaluated
        cluster.poll(one("gpu_temp", temp), evaluate=False)
    result = cluster.poll(one("gpu_temp", 100))
    assert result is not None and result.active[0].value == pytest.approx(430 / 7)
