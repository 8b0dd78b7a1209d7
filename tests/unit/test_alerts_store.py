"""AlertStore on real SQLite files: rules in order, one-time seeding, events, active alerts, silences."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    Comparator,
    LabelMatcher,
    MatchOp,
    RuleKind,
    Scope,
    SeriesKey,
    Severity,
    Silence,
)
from gpuwatch_desktop.storage import AlertStore, HistoryStore

T0 = 1_700_000_000.5
HOT = AlertRule("hot", "GPU too hot", metric="gpu_temp", comparator=Comparator.GT, threshold=85,
                clear_threshold=80, for_s=60, severity=Severity.CRITICAL, labels=(("team", "ml"),),
                scope=Scope(node="node-1", matchers=(LabelMatcher("model", MatchOp.RE, "H100.*"),)),
                description="{node} GPU {gpu} at {value} {unit}")
DOWN = AlertRule("down", "Node down", kind=RuleKind.NODE_DOWN, for_s=30)
IDLE = AlertRule("idle", "Idle GPU", kind=RuleKind.IDLE, metric="gpu_util", comparator=Comparator.LT,
                 threshold=5, window_s=600, enabled=False)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def alerts(path: Path) -> Iterator[AlertStore]:
    with HistoryStore(path) as store:
        yield store.alerts()


@contextmanager
def reopened(path: Path) -> Iterator[AlertStore]:
    with HistoryStore(path) as store:
        yield store.alerts()


def event(t: float, state: AlertState, rule: AlertRule = HOT, node: str = "node-1", gpu: int | None = 0,
          value: float | None = 90.0, silenced: bool = False) -> AlertEvent:
    previous = AlertState.PENDING if state is AlertState.FIRING else AlertState.INACTIVE
    return AlertEvent(t, rule.id, rule.name, node, gpu, state, previous, rule.severity, value,
                      f"{node} {state.value}", silenced)


def test_rules_round_trip_every_field_and_keep_their_order_across_reopening(path: Path, alerts: AlertStore) -> None:
    for rule in (HOT, DOWN, IDLE):
        alerts.save_rule(rule)
    assert alerts.list_rules() == [HOT, DOWN, IDLE]
    with reopened(path) as again:
        assert again.list_rules() == [HOT, DOWN, IDLE]


def test_saving_an_existing_rule_updates_it_in_place_and_a_position_moves_it(alerts: AlertStore) -> None:
    alerts.save_rules([HOT, DOWN, IDLE])
    cooler = dataclasses.replace(HOT, threshold=90, enabled=False)
    alerts.save_rule(cooler)
    assert alerts.list_rules() == [cooler, DOWN, IDLE]
    alerts.save_rule(IDLE, position=0)
    assert [r.id for r in alerts.list_rules()] == ["idle", "hot", "down"]
    new = AlertRule("new", "New rule", threshold=1)
    alerts.save_rule(new, position=1)
    alerts.save_rule(DOWN, position=99)  # past the end: last
    assert [r.id for r in alerts.list_rules()] == ["idle", "new", "hot", "down"]


def test_an_invalid_rule_is_refused_with_the_reason_and_nothing_changes(alerts: AlertStore) -> None:
    alerts.save_rules([HOT])
    bad = dataclasses.replace(DOWN, name=" ")
    with pytest.raises(ValueError, match=r"'down'.*name: a rule needs a name"):
        alerts.save_rule(bad)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        alerts.save_rules([DOWN, dataclasses.replace(HOT, metric="nope")])
    with pytest.raises(ValueError, match="two alert rules have the id 'hot'"):
        alerts.save_rules([HOT, dataclasses.replace(HOT, name="again")])
    assert alerts.list_rules() == [HOT]


def test_save_rules_replaces_everything(alerts: AlertStore) -> None:
    alerts.save_rules([HOT, DOWN])
    alerts.save_rules([IDLE, HOT])
    assert alerts.list_rules() == [IDLE, HOT]
    alerts.save_rules([])
    assert alerts.list_rules() == []


def test_delete_rule_keeps_its_events(alerts: AlertStore) -> None:
    alerts.save_rules([HOT, DOWN])
    alerts.record_events([event(T0, AlertState.FIRING)])
    assert alerts.delete_rule("hot") is True
    assert alerts.delete_rule("hot") is False
    assert alerts.list_rules() == [DOWN]
    assert [e.rule_name for e in alerts.events()] == ["GPU too hot"]


def test_defaults_are_seeded_once_even_after_every_rule_is_deleted(path: Path, alerts: AlertStore) -> None:
    assert alerts.seed_defaults([HOT, DOWN]) is True
    assert alerts.list_rules() == [HOT, DOWN]
    for rule in (HOT, DOWN):
        alerts.delete_rule(rule.id)
    assert alerts.seed_defaults([HOT, DOWN]) is False
    with reopened(path) as again:
        assert again.seed_defaults([HOT, DOWN]) is False
    with reopened(path) as again:
        assert again.list_rules() == []


def test_seeding_keeps_rules_already_there_and_adds_the_others_after_them(alerts: AlertStore) -> None:
    mine = dataclasses.replace(HOT, threshold=95)
    alerts.save_rule(mine)
    assert alerts.seed_defaults([DOWN, HOT, IDLE]) is True
    assert alerts.list_rules() == [mine, DOWN, IDLE]


def test_an_import_counts_as_seeded(alerts: AlertStore) -> None:
    alerts.save_rules([IDLE])
    assert alerts.seed_defaults([HOT]) is False
    assert alerts.list_rules() == [IDLE]


def test_events_come_back_newest_first_with_every_field(path: Path, alerts: AlertStore) -> None:
    recorded = [
        event(T0, AlertState.PENDING),
        event(T0 + 60, AlertState.FIRING, silenced=True),
        event(T0 + 60, AlertState.FIRING, rule=DOWN, node="node-2", gpu=None, value=None),
        event(T0 + 120.25, AlertState.RESOLVED, value=79.5),
    ]
    assert alerts.record_events(recorded) == 4
    with reopened(path) as again:
        assert again.events() == [recorded[3], recorded[2], recorded[1], recorded[0]]


def test_event_filters_combine(alerts: AlertStore) -> None:
    recorded = [event(T0 + i * 10, state, node=node)
                for i, (state, node) in enumerate([(AlertState.PENDING, "node-1"), (AlertState.FIRING, "node-1"),
                                                  (AlertState.PENDING, "node-2"), (AlertState.RESOLVED, "node-1")])]
    recorded.append(event(T0 + 40, AlertState.FIRING, rule=DOWN, node="node-2", gpu=None))
    alerts.record_events(recorded)

    def times(**filters: object) -> list[float]:
        return [e.time - T0 for e in alerts.events(**filters)]  # type: ignore[arg-type]

    assert times() == [40, 30, 20, 10, 0]
    assert times(since=T0 + 10, until=T0 + 30) == [30, 20, 10]
    assert times(rule_id="down") == [40]
    assert times(node="node-2") == [40, 20]
    assert times(states=[AlertState.FIRING, AlertState.RESOLVED]) == [40, 30, 10]
    assert times(states=[]) == []
    assert times(node="node-1", states={AlertState.PENDING}, rule_id="hot") == [0]
    assert times(limit=2) == [40, 30]
    assert times(limit=None) == [40, 30, 20, 10, 0]
    with pytest.raises(ValueError, match="limit"):
        alerts.events(limit=0)


def test_unstorable_values_are_stored_as_no_value(alerts: AlertStore) -> None:
    alerts.record_events([event(T0, AlertState.FIRING, value=math.nan), event(T0 + 1, AlertState.FIRING,
                                                                               value=math.inf)])
    assert [e.value for e in alerts.events()] == [None, None]


def test_prune_events_deletes_only_older_ones(alerts: AlertStore) -> None:
    alerts.record_events([event(T0 + i, AlertState.FIRING) for i in range(5)])
    assert alerts.prune_events(T0 + 3) == 3
    assert [e.time for e in alerts.events()] == [T0 + 4, T0 + 3]


def active(key: SeriesKey, state: AlertState, severity: Severity, active_since: float,
           acknowledged: bool = False) -> ActiveAlert:
    return ActiveAlert(key, "rule " + key.rule_id, state, severity, since=active_since + 5,
                       active_since=active_since, value=None if key.gpu is None else 91.5,
                       summary=f"{key.fingerprint} is {state.value}", labels=(("team", "ml"), ("a", "b")),
                       silenced=key.node == "node-2", acknowledged=acknowledged)


def test_active_alerts_are_replaced_as_a_whole_and_sorted_firing_worst_oldest(path: Path, alerts: AlertStore) -> None:
    pending = active(SeriesKey("hot", "node-1", 1), AlertState.PENDING, Severity.CRITICAL, T0)
    warning = active(SeriesKey("mem", "node-1", 0), AlertState.FIRING, Severity.WARNING, T0 - 100)
    critical_new = active(SeriesKey("hot", "node-2", 0), AlertState.FIRING, Severity.CRITICAL, T0 + 50, True)
    critical_old = active(SeriesKey("down", "node-3", None), AlertState.FIRING, Severity.CRITICAL, T0 + 10)
    alerts.replace_active([pending, warning, critical_new, critical_old])
    with reopened(path) as again:
        assert again.active() == [critical_old, critical_new, warning, pending]
    alerts.replace_active([warning])
    assert alerts.active() == [warning]
    alerts.replace_active([])
    assert alerts.active() == []


def test_silences_active_future_expired(path: Path, alerts: AlertStore) -> None:
    now = T0
    ongoing = Silence("s1", "hot", None, now - 60, now + 3600, "maintenance", "ana")
    later = Silence("s2", None, "node-2", now + 600, now + 1200, "planned reboot")
    over = Silence("s3", "down", "node-1", now - 7200, now - 3600, "old")
    for silence in (later, over, ongoing):
        alerts.add_silence(silence)
    assert alerts.silences(now) == [ongoing, later]
    with reopened(path) as again:
        assert again.silences(now, include_expired=True) == [over, ongoing, later]
    assert alerts.silences() == []  # the real clock is far past T0

    assert alerts.expire_silence("s1", now) is True
    assert alerts.expire_silence("s1", now + 1) is False  # ended already
    assert alerts.expire_silence("nope", now) is False
    assert alerts.silences(now) == [later]
    assert alerts.silences(now, include_expired=True)[1] == dataclasses.replace(ongoing, ends_at=now)


def test_a_silence_must_end_after_it_starts_and_same_id_replaces(alerts: AlertStore) -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        alerts.add_silence(Silence("s", None, None, T0, T0, "zero length"))
    alerts.add_silence(Silence("s", None, None, T0, T0 + 10, "first"))
    alerts.add_silence(Silence("s", None, None, T0, T0 + 20, "longer"))
    assert [s.reason for s in alerts.silences(T0, include_expired=True)] == ["longer"]
