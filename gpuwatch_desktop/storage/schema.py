"""History database layout and its forward migrations (``PRAGMA user_version``).

Layout (all values are integers, so SQLite stores each in 0-8 bytes):

- ``gpu``: one row per (node, index), referenced by its integer ``id``.
- ``raw``: one row per GPU per timestamp (unix seconds), one column per metric of
  ``core.metrics.GPU_METRICS`` holding ``round(value * spec.scale)``, NULL for "no value".
  ``WITHOUT ROWID`` with primary key (gpu_id, ts): the key is the storage order, no extra index.
- ``rollup``: one row per GPU per completed minute (ts = minute start) with ``<key>_min``,
  ``<key>_avg`` (rounded to the same fixed point) and ``<key>_max`` per metric.
- ``meta``: key/value pairs, e.g. ``rollup_until`` (rollups exist for every minute before it).
- ``node`` and ``scrape`` (version 2): per-node scrape status per poll round.
- ``alert_rule``, ``alert_event``, ``alert_silence``, ``alert_active`` (version 3): alert rules
  (each a JSON definition, codec in ``alerts_store``), every state transition, silences, and the
  series pending or firing when last saved (so the app resumes after a restart).
- ``conversation`` and ``conversation_message`` (version 4): the agent's chat conversations, each message
  as its OpenAI-format JSON in order, with the tool step the chat showed for it (codec in ``conversations``).

Metric columns are derived from the registry: a metric added to ``GPU_METRICS`` later gets
its column added on open (``sync_metric_columns``); a removed one keeps its column, unused.
Migration steps are frozen SQL: never edit a released step, append a new one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import peewee

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import GPU_METRICS

METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in GPU_METRICS)
ROLLUP_SUFFIXES: tuple[str, ...] = ("min", "avg", "max")
ROLLUP_SECONDS = 60

for _key in METRIC_KEYS:  # keys become SQL column names: keep them plain identifiers
    if not re.fullmatch(r"[a-z][a-z0-9_]*", _key):
        raise ValueError(f"metric key {_key!r} cannot be a column name")


def rollup_columns(key: str) -> tuple[str, str, str]:
    return (f"{key}_min", f"{key}_avg", f"{key}_max")


def _metric_column_defs(rollup: bool) -> str:
    names = [c for k in METRIC_KEYS for c in rollup_columns(k)] if rollup else list(METRIC_KEYS)
    return "".join(f", {name} INTEGER" for name in names)


def _v1(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "CREATE TABLE gpu (id INTEGER PRIMARY KEY, node TEXT NOT NULL, idx INTEGER NOT NULL,"
        " uuid TEXT NOT NULL, model TEXT NOT NULL, UNIQUE (node, idx))"
    )
    for table, rollup in (("raw", False), ("rollup", True)):
        db.execute_sql(
            f"CREATE TABLE {table} (gpu_id INTEGER NOT NULL, ts INTEGER NOT NULL"
            f"{_metric_column_defs(rollup)}, PRIMARY KEY (gpu_id, ts)) WITHOUT ROWID"
        )
    db.execute_sql("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")


def _v2(db: peewee.SqliteDatabase) -> None:
    db.execute_sql("CREATE TABLE node (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    db.execute_sql(
        "CREATE TABLE scrape (node_id INTEGER NOT NULL, ts INTEGER NOT NULL, state TEXT NOT NULL,"
        " scrape_ms INTEGER, samples INTEGER, PRIMARY KEY (node_id, ts)) WITHOUT ROWID"
    )


def _v3(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "CREATE TABLE alert_rule (id TEXT PRIMARY KEY, position INTEGER NOT NULL,"
        " enabled INTEGER NOT NULL, definition TEXT NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE alert_event (id INTEGER PRIMARY KEY, ts REAL NOT NULL, rule_id TEXT NOT NULL,"
        " rule_name TEXT NOT NULL, node TEXT NOT NULL, gpu INTEGER, state TEXT NOT NULL,"
        " previous TEXT NOT NULL, severity TEXT NOT NULL, value REAL, summary TEXT NOT NULL,"
        " silenced INTEGER NOT NULL)"
    )
    for name, columns in (("ts", "ts"), ("rule", "rule_id, ts"), ("node", "node, ts"), ("state", "state, ts")):
        db.execute_sql(f"CREATE INDEX alert_event_{name} ON alert_event ({columns})")
    db.execute_sql(
        "CREATE TABLE alert_silence (id TEXT PRIMARY KEY, rule_id TEXT, node TEXT, starts_at REAL NOT NULL,"
        " ends_at REAL NOT NULL, reason TEXT NOT NULL, created_by TEXT NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE alert_active (fingerprint TEXT PRIMARY KEY, rule_id TEXT NOT NULL,"
        " rule_name TEXT NOT NULL, node TEXT NOT NULL, gpu INTEGER, state TEXT NOT NULL,"
        " severity TEXT NOT NULL, since REAL NOT NULL, active_since REAL NOT NULL, value REAL,"
        " summary TEXT NOT NULL, labels TEXT NOT NULL, silenced INTEGER NOT NULL,"
        " acknowledged INTEGER NOT NULL)"
    )


def _v4(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "CREATE TABLE conversation (id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL,"
        " updated REAL NOT NULL, model TEXT NOT NULL)"
    )
    db.execute_sql("CREATE INDEX conversation_updated ON conversation (updated)")
    db.execute_sql(
        "CREATE TABLE conversation_message (conversation_id INTEGER NOT NULL, position INTEGER NOT NULL,"
        " notice INTEGER NOT NULL, message TEXT NOT NULL, step_name TEXT, step_arguments TEXT,"
        " step_summary TEXT, step_duration_ms REAL, step_ok INTEGER, step_cached INTEGER,"
        " PRIMARY KEY (conversation_id, position)) WITHOUT ROWID"
    )


# MIGRATIONS[i] takes a file from user_version i to i + 1.
MIGRATIONS: tuple[Callable[[peewee.SqliteDatabase], None], ...] = (_v1, _v2, _v3, _v4)
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(db: peewee.SqliteDatabase) -> int:
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def migrate(db: peewee.SqliteDatabase, path: str) -> int:
    """Bring the open database up to ``SCHEMA_VERSION``; returns the version it had."""
    found = user_version(db)
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"history database {path} has schema version {found}, newer than this version of "
            f"gpuwatch understands ({SCHEMA_VERSION}); upgrade gpuwatch or choose another file"
        )
    for version in range(found, SCHEMA_VERSION):
        with db.atomic():
            MIGRATIONS[version](db)
            db.execute_sql(f"PRAGMA user_version = {version + 1}")
    sync_metric_columns(db)
    return found


def _columns(db: peewee.SqliteDatabase, table: str) -> set[str]:
    return {row[1] for row in db.execute_sql(f"PRAGMA table_info({table})").fetchall()}


def sync_metric_columns(db: peewee.SqliteDatabase) -> None:
    """Add a column for every registry metric the file does not have yet."""
    wanted = {"raw": list(METRIC_KEYS), "rollup": [c for k in METRIC_KEYS for c in rollup_columns(k)]}
    with db.atomic():
        for table, names in wanted.items():
            have = _columns(db, table)
            for name in names:
                if name not in have:
                    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} INTEGER")
