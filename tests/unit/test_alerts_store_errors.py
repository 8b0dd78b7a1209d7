"""AlertStore failures: a StorageError naming what failed and the file; nothing half-written; recovery."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gpuwatch_desktop.core.alerts import AlertEvent, AlertRule, AlertState, Severity
from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.storage import HistoryStore

T0 = 1_700_000_000.0
RULES = [AlertRule("a", "A", threshold=1), AlertRule("b", "B", threshold=2)]


def fired(t: float) -> AlertEvent:
    return AlertEvent(t, "a", "A", "n", 0, AlertState.FIRING, AlertState.PENDING, Severity.WARNING, 2.0, "A on n")


def test_a_locked_database_fails_the_batch_whole_then_the_next_call_works(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path, busy_timeout_ms=100) as store:
        alerts = store.alerts()
        alerts.save_rules(RULES)
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StorageError, match="locked") as caught:
                alerts.record_events([fired(T0), fired(T0 + 1)])
            assert "recording alert events failed" in str(caught.value) and str(path) in str(caught.value)
            with pytest.raises(StorageError, match="replacing the alert rules failed"):
                alerts.save_rules(RULES[:1])
            other.execute("COMMIT")
        assert alerts.events() == []
        assert alerts.list_rules() == RULES
        alerts.record_events([fired(T0 + 2)])
        assert [e.time for e in alerts.events()] == [T0 + 2]


def test_a_damaged_rule_definition_is_reported_with_its_id_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as store:
        store.alerts().save_rules(RULES)
    with closing(sqlite3.connect(path)) as conn:
        damaged = '{"id": "b", "name": "B", "kind": "?"}'
        conn.execute("UPDATE alert_rule SET definition = ? WHERE id = 'b'", (damaged,))
        conn.commit()
    with HistoryStore(path) as store:
        expected = r"reading alert rules failed.*alert rule 'b' cannot be read.*kind"
        with pytest.raises(StorageError, match=expected) as caught:
            store.alerts().list_rules()
        assert str(path) in str(caught.value)
        store.alerts().delete_rule("b")  # the user can still get rid of it
        assert store.alerts().list_rules() == RULES[:1]


def test_a_bad_argument_is_a_value_error_that_changes_nothing(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        alerts = store.alerts()
        alerts.save_rules(RULES)
        with pytest.raises(ValueError, match="position must not be negative"):
            alerts.save_rule(RULES[0], position=-1)
        with pytest.raises(ValueError, match="invalid"):
            alerts.seed_defaults([AlertRule("c", "")])
        assert alerts.list_rules() == RULES
        assert alerts.seed_defaults([AlertRule("c", "C")]) is False  # save_rules already counted as seeding
