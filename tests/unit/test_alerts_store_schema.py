"""Alert tables in the history file: a fresh file, the v2 -> v3 migration keeping history, the rule codec."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import peewee
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertEvent,
    AlertRule,
    AlertState,
    Comparator,
    LabelMatcher,
    MatchOp,
    MissingPolicy,
    RuleKind,
    Scope,
    Severity,
)
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus
from gpuwatch_desktop.storage import SCHEMA_VERSION, HistoryStore, KnownGpu, rule_from_dict, rule_to_dict
from gpuwatch_desktop.storage.alerts_codec import rule_from_json, rule_to_json
from gpuwatch_desktop.storage.schema import MIGRATIONS

T0 = 1_700_000_040
ALERT_TABLES = {"alert_rule", "alert_event", "alert_silence", "alert_active"}


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_a_fresh_file_has_the_alert_tables_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    HistoryStore(path).close()
    assert SCHEMA_VERSION >= 3
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in read(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= ALERT_TABLES
    plan = read(path, "EXPLAIN QUERY PLAN SELECT * FROM alert_event WHERE node = 'x' ORDER BY ts DESC LIMIT 5")
    assert "alert_event_node" in str(plan) and "TEMP B-TREE" not in str(plan)


def write_version_2_file(path: Path) -> None:
    """A history file as version 2 left it: the frozen steps 1 and 2, some samples and scrapes."""
    db = peewee.SqliteDatabase(str(path))
    with db.connection_context():
        for step in MIGRATIONS[:2]:
            step(db)
        db.execute_sql("PRAGMA user_version = 2")
        db.execute_sql("INSERT INTO gpu VALUES (1, 'old-node', 0, 'GPU-old', 'A100')")
        db.execute_sql(f"INSERT INTO raw (gpu_id, ts, gpu_util) VALUES (1, {T0}, 77)")
        db.execute_sql("INSERT INTO node VALUES (1, 'old-node')")
        db.execute_sql(f"INSERT INTO scrape VALUES (1, {T0}, 'up', 12, 40)")
        db.execute_sql(f"INSERT INTO meta VALUES ('rollup_until', {T0 - 60})")


def test_a_version_2_file_gains_the_alert_tables_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    write_version_2_file(path)
    assert not ALERT_TABLES & {name for (name,) in read(path, "SELECT name FROM sqlite_master")}
    with HistoryStore(path) as store:
        assert store.known_gpus() == [KnownGpu("old-node", 0, "GPU-old", "A100")]
        assert list(store.query("old-node", 0, ["gpu_util"], T0, T0)["gpu_util"].mean) == [77]
        assert [(r.state, r.sample_count) for r in store.scrape_history("old-node", T0, T0)] == [("up", 40)]
        gpu = GpuSnapshot(0, "GPU-old", "A100", "", {"gpu_util": 5})
        status = NodeStatus("old-node", NodeState.UP, last_attempt=T0 + 2)
        store.write_round([NodeSnapshot("old-node", "h", T0 + 2, (gpu,))], statuses=[status])
        alerts = store.alerts()
        alerts.save_rule(AlertRule("r", "Rule", threshold=1))
        fired = AlertEvent(T0, "r", "Rule", "old-node", 0, AlertState.FIRING, AlertState.PENDING,
                           Severity.WARNING, 2.0, "fired")
        alerts.record_events([fired])
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with HistoryStore(path) as again:
        assert again.alerts().events() == [fired]
        assert [r.id for r in again.alerts().list_rules()] == ["r"]
        assert list(again.query("old-node", 0, ["gpu_util"], T0, T0 + 2)["gpu_util"].mean) == [77, 5]


# ---- the rule codec ----------------------------------------------------------------------------

FULL = AlertRule(
    "hot", "GPU too hot", kind=RuleKind.THRESHOLD, metric="gpu_temp",
    scope=Scope("node-1", 3, (LabelMatcher("model", MatchOp.NRE, "A.*"),)), aggregation=Aggregation.MAX,
    window_s=120, comparator=Comparator.GE, threshold=85.5, clear_threshold=80, for_s=60, keep_firing_s=30,
    severity=Severity.CRITICAL, labels=(("team", "ml"), ("team", "infra")), description="{node} {value}",
    no_data=MissingPolicy.ALERTING, on_error=MissingPolicy.OK, enabled=False,
)


def test_the_json_form_is_plain_enums_by_value_scope_nested_labels_as_pairs() -> None:
    data = json.loads(rule_to_json(FULL))
    assert data["kind"] == "threshold" and data["comparator"] == ">=" and data["no_data"] == "alerting"
    assert data["scope"] == {"node": "node-1", "gpu": 3, "matchers": [{"name": "model", "op": "!~", "value": "A.*"}]}
    assert data["labels"] == [["team", "ml"], ["team", "infra"]]
    assert rule_from_json(rule_to_json(FULL)) == FULL


def test_unknown_keys_are_ignored_and_missing_ones_take_their_defaults() -> None:
    data = {"id": "x", "name": "X", "threshold": 3, "from_the_future": {"a": 1},
            "scope": {"node": None, "gpu": None, "matchers": [], "newer_scope_key": 1}}
    assert rule_from_dict(data) == AlertRule("x", "X", threshold=3.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "bogus"}, r"kind: unknown value 'bogus'; one of 'threshold'"),
        ({"threshold": "hot"}, "threshold: expected a number"),
        ({"for_s": True}, "for_s: expected a number"),
        ({"enabled": 1}, "enabled: expected true or false"),
        ({"labels": [["a"]]}, "labels: expected a .name, value. pair"),
        ({"scope": {"gpu": "0"}}, "scope.gpu: expected a GPU index"),
        ({"scope": {"matchers": [{"name": "m", "op": "~", "value": "v"}]}}, "scope.matchers.op: unknown value"),
        ({"name": None}, "name: expected text"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule_from_dict({**rule_to_dict(FULL), **change})


def test_a_rule_without_id_or_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="a rule needs 'id'"):
        rule_from_dict({"name": "x"})
    with pytest.raises(ValueError, match="must be an object"):
        rule_from_dict(["x"])


texts = st.text(max_size=12)
numbers = st.floats(allow_nan=False, allow_infinity=False)
rules = st.builds(
    AlertRule, id=texts, name=texts, kind=st.sampled_from(RuleKind), metric=texts,
    scope=st.builds(Scope, st.none() | texts, st.none() | st.integers(0, 64),
                    st.lists(st.builds(LabelMatcher, texts, st.sampled_from(MatchOp), texts), max_size=3).map(tuple)),
    aggregation=st.sampled_from(Aggregation), window_s=numbers, comparator=st.sampled_from(Comparator),
    threshold=numbers, clear_threshold=st.none() | numbers, for_s=numbers, keep_firing_s=numbers,
    severity=st.sampled_from(Severity), labels=st.lists(st.tuples(texts, texts), max_size=3).map(tuple),
    description=texts, no_data=st.sampled_from(MissingPolicy), on_error=st.sampled_from(MissingPolicy),
    enabled=st.booleans(),
)


@given(rules)
def test_every_rule_survives_the_json_round_trip(rule: AlertRule) -> None:
    assert rule_from_json(rule_to_json(rule)) == rule
