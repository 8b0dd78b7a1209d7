"""Alert rules, events, silences and active alerts in the history file (tables in ``schema`` v3).

Threading is the history store's: build an ``AlertStore`` from ``HistoryStore.database`` (or
``HistoryStore.alerts()``) and call it only from the store's worker thread.

Failures: every sqlite/peewee/OS error, and stored data that cannot be read back, is raised as
``StorageError`` naming what failed and the file; the connection is dropped and reopened on the
next call. Bad arguments (an invalid rule, a silence that ends before it starts) are ``ValueError``
and change nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import peewee

from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    SeriesKey,
    Severity,
    Silence,
    validate_rule,
)
from gpuwatch_desktop.storage.alerts_codec import rule_from_json, rule_to_json
from gpuwatch_desktop.storage.store import table_guard

SEEDED_KEY = "alert_rules_seeded"  # in ``meta``: the default rules were offered once, never again

_EVENT_COLUMNS = "ts, rule_id, rule_name, node, gpu, state, previous, severity, value, summary, silenced"
_ACTIVE_COLUMNS = (
    "fingerprint, rule_id, rule_name, node, gpu, state, severity, since, active_since, value, summary,"
    " labels, silenced, acknowledged"
)
_SILENCE_COLUMNS = "id, rule_id, node, starts_at, ends_at, reason, created_by"


def _real(value: float | None) -> float | None:
    """Finite floats as they are; None, NaN and infinities as NULL."""
    return value if value is not None and math.isfinite(value) else None


def _check_rule(rule: AlertRule) -> None:
    errors = validate_rule(rule)
    if errors:
        reasons = "; ".join(f"{field}: {why}" for field, why in errors.items())
        raise ValueError(f"alert rule {rule.id!r} ({rule.name!r}) is invalid: {reasons}")


class AlertStore:
    """The alert tables of one history database (rules in order, events, silences, active alerts)."""

    def __init__(self, db: peewee.SqliteDatabase) -> None:
        self._db = db

    def _guard(self, what: str) -> AbstractContextManager[None]:
        return table_guard(self._db, what)

    # ---- rules ---------------------------------------------------------------------------

    def list_rules(self) -> list[AlertRule]:
        """Every stored rule in its position order (ties by id); ``enabled`` comes from its column."""
        with self._guard("reading alert rules"):
            rows = self._db.execute_sql(
                "SELECT id, enabled, definition FROM alert_rule ORDER BY position, id"
            ).fetchall()
            return [self._decode_rule(rid, enabled, text) for rid, enabled, text in rows]

    @staticmethod
    def _decode_rule(rule_id: str, enabled: int, text: str) -> AlertRule:
        try:
            rule = rule_from_json(text)
        except ValueError as exc:
            raise ValueError(f"alert rule {rule_id!r} cannot be read ({exc})") from exc
        if rule.id != rule_id:
            raise ValueError(f"alert rule {rule_id!r} holds the definition of {rule.id!r}")
        return rule if rule.enabled == bool(enabled) else replace(rule, enabled=bool(enabled))

    def save_rule(self, rule: AlertRule, position: int | None = None) -> None:
        """Insert or update ``rule``; ValueError when it is invalid (``validate_rule``).

        A new rule goes last and an existing one keeps its place, unless ``position`` (0 = first)
        says where it goes; the others keep their order around it.
        """
        _check_rule(rule)
        if position is not None and position < 0:
            raise ValueError(f"position must not be negative, got {position}")
        with self._guard(f"saving alert rule {rule.id!r}"), self._db.atomic():
            order = [rid for (rid,) in self._db.execute_sql("SELECT id FROM alert_rule ORDER BY position, id")]
            if position is None:
                position = order.index(rule.id) if rule.id in order else len(order)
            if rule.id in order:
                order.remove(rule.id)
            order.insert(position, rule.id)
            self._db.execute_sql(
                "INSERT OR REPLACE INTO alert_rule (id, position, enabled, definition) VALUES (?, ?, ?, ?)",
                (rule.id, 0, int(rule.enabled), rule_to_json(rule)),
            )
            self._renumber(order)

    def _renumber(self, order: Sequence[str]) -> None:
        self._db.cursor().executemany(
            "UPDATE alert_rule SET position = ? WHERE id = ?", list(enumerate(order))
        )

    def save_rules(self, rules: Sequence[AlertRule]) -> None:
        """Replace every stored rule by ``rules``, in this order, in one transaction (import).

        ValueError, and nothing changed, when any rule is invalid or two share an id.
        """
        seen: set[str] = set()
        for rule in rules:
            _check_rule(rule)
            if rule.id in seen:
                raise ValueError(f"two alert rules have the id {rule.id!r}")
            seen.add(rule.id)
        with self._guard("replacing the alert rules"), self._db.atomic():
            self._db.execute_sql("DELETE FROM alert_rule")
            self._insert_rules(rules, first_position=0)
            self._mark_seeded()

    def _insert_rules(self, rules: Sequence[AlertRule], first_position: int) -> None:
        rows = [
            (rule.id, first_position + i, int(rule.enabled), rule_to_json(rule)) for i, rule in enumerate(rules)
        ]
        self._db.cursor().executemany(
            "INSERT INTO alert_rule (id, position, enabled, definition) VALUES (?, ?, ?, ?)", rows
        )

    def _mark_seeded(self) -> None:
        self._db.execute_sql("INSERT OR REPLACE INTO meta (key, value) VALUES (?, 1)", (SEEDED_KEY,))

    def delete_rule(self, rule_id: str) -> bool:
        """Delete a rule (its events stay as history); False when there was none with that id."""
        with self._guard(f"deleting alert rule {rule_id!r}"), self._db.atomic():
            cursor = self._db.execute_sql("DELETE FROM alert_rule WHERE id = ?", (rule_id,))
            return bool(cursor.rowcount)

    def seed_defaults(self, rules: Sequence[AlertRule]) -> bool:
        """Add ``rules`` (after any stored ones with other ids) the first time this file is seeded.

        Returns whether it seeded. Seeding is recorded in ``meta``, so a user who deletes every
        rule does not get the defaults back on the next start.
        """
        for rule in rules:
            _check_rule(rule)
        with self._guard("adding the default alert rules"), self._db.atomic():
            if self._db.execute_sql("SELECT 1 FROM meta WHERE key = ?", (SEEDED_KEY,)).fetchone():
                return False
            have = {rid for (rid,) in self._db.execute_sql("SELECT id FROM alert_rule")}
            last = self._db.execute_sql("SELECT MAX(position) FROM alert_rule").fetchone()[0]
            new = list({r.id: r for r in rules if r.id not in have}.values())
            self._insert_rules(new, first_position=0 if last is None else last + 1)
            self._mark_seeded()
        return True

    # ---- events --------------------------------------------------------------------------

    def record_events(self, events: Sequence[AlertEvent]) -> int:
        """Append ``events`` in one transaction; returns how many."""
        rows = [
            (e.time, e.rule_id, e.rule_name, e.node, e.gpu, e.state.value, e.previous.value,
             e.severity.value, _real(e.value), e.summary, int(e.silenced))
            for e in events
        ]
        with self._guard("recording alert events"), self._db.atomic():
            self._db.cursor().executemany(
                f"INSERT INTO alert_event ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 11)})", rows
            )
        return len(rows)

    def events(
        self,
        since: float | None = None,
        until: float | None = None,
        rule_id: str | None = None,
        node: str | None = None,
        states: Iterable[AlertState] | None = None,
        limit: int | None = 500,
    ) -> list[AlertEvent]:
        """Events with ``since <= time <= until`` matching every filter given, newest first.

        ``limit`` None returns them all; events of the same time come in reverse recording order.
        """
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
        where, args = _event_filter(since, until, rule_id, node, states)
        sql = f"SELECT {_EVENT_COLUMNS} FROM alert_event{where} ORDER BY ts DESC, id DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        with self._guard("reading alert events"):
            rows = self._db.execute_sql(sql, args).fetchall()
            return [
                AlertEvent(ts, rid, name, node_, gpu, AlertState(state), AlertState(prev), Severity(sev),
                           value, summary, bool(silenced))
                for ts, rid, name, node_, gpu, state, prev, sev, value, summary, silenced in rows
            ]

    def prune_events(self, older_than: float) -> int:
        """Delete events from before ``older_than``; returns how many."""
        with self._guard("deleting old alert events"), self._db.atomic():
            return int(self._db.execute_sql("DELETE FROM alert_event WHERE ts < ?", (older_than,)).rowcount)

    # ---- active alerts -------------------------------------------------------------------

    def replace_active(self, actives: Sequence[ActiveAlert]) -> None:
        """Store ``actives`` as the series now pending, firing or without data (replaces the last set)."""
        rows = [
            (a.key.fingerprint, a.key.rule_id, a.rule_name, a.key.node, a.key.gpu, a.state.value,
             a.severity.value, a.since, a.active_since, _real(a.value), a.summary,
             json.dumps([list(pair) for pair in a.labels]), int(a.silenced), int(a.acknowledged))
            for a in actives
        ]
        with self._guard("saving the active alerts"), self._db.atomic():
            self._db.execute_sql("DELETE FROM alert_active")
            self._db.cursor().executemany(
                f"INSERT OR REPLACE INTO alert_active ({_ACTIVE_COLUMNS}) VALUES ({', '.join('?' * 14)})", rows
            )

    def active(self) -> list[ActiveAlert]:
        """The stored active alerts: firing first, then worst severity, then the oldest."""
        with self._guard("reading the active alerts"):
            rows = self._db.execute_sql(f"SELECT {_ACTIVE_COLUMNS} FROM alert_active").fetchall()
            alerts = [_active_from_row(row) for row in rows]
        alerts.sort(key=lambda a: (a.state is not AlertState.FIRING, -a.severity.rank, a.active_since,
                                   a.key.fingerprint))
        return alerts

    # ---- silences ------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        """Store ``silence`` (replacing one with the same id); ValueError when it ends before it starts."""
        if not silence.ends_at > silence.starts_at:
            raise ValueError(f"silence {silence.id!r} must end after it starts")
        with self._guard(f"saving silence {silence.id!r}"), self._db.atomic():
            self._db.execute_sql(
                f"INSERT OR REPLACE INTO alert_silence ({_SILENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (silence.id, silence.rule_id, silence.node, silence.starts_at, silence.ends_at, silence.reason,
                 silence.created_by),
            )

    def expire_silence(self, silence_id: str, now: float) -> bool:
        """End a silence at ``now``; False when there is none with that id or it had ended already."""
        with self._guard(f"expiring silence {silence_id!r}"), self._db.atomic():
            cursor = self._db.execute_sql(
                "UPDATE alert_silence SET ends_at = ? WHERE id = ? AND ends_at > ?", (now, silence_id, now)
            )
            return bool(cursor.rowcount)

    def silences(self, now: float | None = None, include_expired: bool = False) -> list[Silence]:
        """Silences not ended at ``now`` (default: the current time; future ones included), or all.

        Sorted by start time, then id.
        """
        where, args = ("", ()) if include_expired else (" WHERE ends_at > ?", (time.time() if now is None else now,))
        with self._guard("reading silences"):
            rows = self._db.execute_sql(
                f"SELECT {_SILENCE_COLUMNS} FROM alert_silence{where} ORDER BY starts_at, id", args
            ).fetchall()
        return [Silence(*row) for row in rows]


def _event_filter(
    since: float | None, until: float | None, rule_id: str | None, node: str | None,
    states: Iterable[AlertState] | None,
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for clause, value in (("ts >= ?", since), ("ts <= ?", until), ("rule_id = ?", rule_id), ("node = ?", node)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    if states is not None:
        values = sorted({s.value for s in states})
        clauses.append(f"state IN ({', '.join('?' * len(values))})")
        args.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _active_from_row(row: Sequence[Any]) -> ActiveAlert:
    _fp, rule_id, name, node, gpu, state, sev, since, active_since, value, summary, labels, silenced, acked = row
    return ActiveAlert(
        key=SeriesKey(rule_id, node, gpu), rule_name=name, state=AlertState(state), severity=Severity(sev),
        since=since, active_since=active_since, value=value, summary=summary,
        labels=tuple((str(k), str(v)) for k, v in json.loads(labels)), silenced=bool(silenced),
        acknowledged=bool(acked),
    )
