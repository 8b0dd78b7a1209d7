"""The history store: GPU samples in a local SQLite file (layout in ``schema``).

Threading: the service layer calls every method, constructor and ``close`` included, from
one dedicated worker thread, never the GUI thread. peewee keeps one connection per thread,
so the store effectively owns one connection, used from that thread.

Failures: every sqlite/peewee/OS error is raised as ``StorageError`` naming what failed and
the file; the connection is then dropped and reopened on the next call, so the store keeps
working once the cause (disk full, lock held elsewhere) goes away.
"""

from __future__ import annotations

import math
import operator
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Self

import numpy as np
import peewee
import platformdirs

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeStatus
from gpuwatch_desktop.storage.query import SeriesData, check_args, query_series
from gpuwatch_desktop.storage.schema import METRIC_KEYS, ROLLUP_SECONDS, migrate, rollup_columns

if TYPE_CHECKING:
    from gpuwatch_desktop.storage.alerts_store import AlertStore

ROLLUP_GRACE_S = 5  # a minute is rolled up once a round at least this far past its end arrives
_RAW_BATCH_S = 3600  # retention deletes at most this much time per GPU per transaction
_ROLLUP_BATCH_S = 86400
_INT64_MAX = 2**63 - 1

_RAW_INSERT = (
    f"INSERT OR REPLACE INTO raw (gpu_id, ts, {', '.join(METRIC_KEYS)})"
    f" VALUES ({', '.join('?' * (len(METRIC_KEYS) + 2))})"
)
_ROLLUP_INSERT = (
    "INSERT OR REPLACE INTO rollup (gpu_id, ts, "
    + ", ".join(c for k in METRIC_KEYS for c in rollup_columns(k))
    + f") SELECT gpu_id, ts / {ROLLUP_SECONDS} * {ROLLUP_SECONDS}, "
    + ", ".join(f"MIN({k}), CAST(ROUND(AVG({k})) AS INTEGER), MAX({k})" for k in METRIC_KEYS)
    + " FROM raw WHERE gpu_id IN (SELECT id FROM gpu) AND ts >= ? AND ts < ?"
    + f" GROUP BY gpu_id, ts / {ROLLUP_SECONDS}"
)


class KnownGpu(NamedTuple):
    node: str
    gpu_index: int  # ("index" would shadow tuple.index)
    uuid: str
    model: str


@dataclass(frozen=True, slots=True)
class ScrapeRecord:
    """A node's polling status at one round, as ``write_round`` got it."""

    ts: float
    state: str  # NodeState value: "up", "degraded", "stale", "down", "unknown"
    scrape_ms: float
    sample_count: int


def default_path() -> Path:
    """Where the history lives by default: the user data dir, e.g. ~/.local/share/gpuwatch."""
    return Path(platformdirs.user_data_dir("gpuwatch")) / "history.sqlite3"


_SCALES = np.array([m.scale for m in GPU_METRICS], dtype=float)
_VALUES = operator.itemgetter(*METRIC_KEYS)  # a GPU's values in column order


def _values_row(values: Mapping[str, float]) -> Sequence[float]:
    """A GPU's values in column order, NaN for a missing one."""
    try:
        return _VALUES(values)
    except KeyError:
        return [values.get(key, math.nan) for key in METRIC_KEYS]


def _fixed_rows(gpus: Sequence[GpuSnapshot]) -> list[list[int | None]]:
    """Per GPU, ``round(value * scale)`` of each metric (half to even, as ``round``); None for no value
    or one an int64 cannot hold (NaN, inf). One numpy pass for the round (~3x faster than per value)."""
    matrix = np.array([_values_row(gpu.values) for gpu in gpus], dtype=float).reshape(len(gpus), -1)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values become inf: they do not fit
        scaled = matrix * _SCALES
        fits = (scaled > -_INT64_MAX) & (scaled < _INT64_MAX)  # False for NaN too
    fixed = np.rint(np.where(fits, scaled, 0.0)).astype(np.int64).astype(object)
    fixed[~fits] = None
    return fixed.tolist()
_HINTS = (
    ("locked", "another program is writing to it; close it or wait"),
    ("full", "free some disk space"),
    ("malformed", "the file is damaged; move it away to start a new history"),
    ("not a database", "the file is damaged or not a history file; move it away to start a new history"),
    ("unable to open", "check that the folder exists and is writable"),
    ("readonly", "check that the file and its folder are writable"),
)


def _hint(exc: BaseException) -> str:
    text = str(exc).lower()
    return next((f" ({hint})" for needle, hint in _HINTS if needle in text), "")


@contextmanager
def table_guard(db: peewee.SqliteDatabase, what: str) -> Iterator[None]:
    """For the stores of extra tables (alerts, conversations): any database failure, or stored data that
    cannot be decoded (ValueError), becomes a StorageError; the connection is dropped and reopens next call."""
    try:
        yield
    except (peewee.PeeweeException, sqlite3.Error, OSError, ValueError) as exc:
        with suppress(peewee.PeeweeException, sqlite3.Error):
            db.close()
        raise StorageError(f"{what} failed for history database {db.database}: {exc}{_hint(exc)}") from exc


class HistoryStore:
    """GPU history in SQLite: raw rows per poll round, 1-minute rollups, chart queries."""

    def __init__(
        self,
        path: Path | str,
        *,
        raw_retention_s: float = 48 * 3600,
        rollup_retention_s: float = 90 * 86400,
        busy_timeout_ms: int = 5000,
    ) -> None:
        if raw_retention_s <= 0 or rollup_retention_s <= 0 or busy_timeout_ms < 0:
            raise ValueError("retention times must be positive and busy_timeout_ms not negative")
        self.path = Path(path)
        self.raw_retention_s = raw_retention_s
        self.rollup_retention_s = rollup_retention_s
        pragmas = {
            "journal_mode": "wal",
            "synchronous": "normal",
            "busy_timeout": busy_timeout_ms,
            "cache_size": -16000,  # KiB
            "temp_store": "memory",
        }
        self._db = peewee.SqliteDatabase(str(self.path), pragmas=pragmas, timeout=busy_timeout_ms / 1000)
        self._gpu_ids: dict[tuple[str, int], tuple[int, str, str]] | None = None
        self._node_ids: dict[str, int] | None = None
        self._rollup_until: int | None = None
        self._meta_loaded = False
        with self._guard("opening"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db.connect(reuse_if_open=True)
            migrate(self._db, str(self.path))

    @property
    def database(self) -> peewee.SqliteDatabase:
        """The peewee database, for maintenance and tests; use it only from the store's thread."""
        return self._db

    def alerts(self) -> AlertStore:
        """The alert tables of this file, on the same connection: use it only from the store's thread."""
        from gpuwatch_desktop.storage.alerts_store import AlertStore  # that module imports this one

        return AlertStore(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            self._reset()
            raise
        except (peewee.PeeweeException, sqlite3.Error, OSError) as exc:
            self._reset()
            raise StorageError(f"{what} failed for history database {self.path}: {exc}{_hint(exc)}") from exc

    def _reset(self) -> None:
        """Forget cached ids and drop the connection; the next call reconnects."""
        self._gpu_ids = self._node_ids = None
        self._meta_loaded = False
        with suppress(peewee.PeeweeException, sqlite3.Error):
            self._db.close()

    # ---- writing -------------------------------------------------------------------------

    def write_round(self, snapshots: Sequence[NodeSnapshot], statuses: Sequence[NodeStatus] = ()) -> int:
        """Store one poll round in one transaction; returns the number of GPU rows written.

        Timestamps are whole seconds (a second GPU row in the same second replaces the first).
        ``statuses`` optionally records each node's polling state for the round. Minutes that
        ended (by ``ROLLUP_GRACE_S``) before the round's earliest snapshot are rolled up in the
        same transaction; a row older than the rolled-up minutes (a clock stepped back) stays raw.
        """
        with self._guard("writing a poll round"), self._db.atomic():
            gpus = [gpu for snap in snapshots for gpu in snap.gpus]
            heads = [(self._gpu_id(snap.node, gpu), math.floor(snap.time)) for snap in snapshots for gpu in snap.gpus]
            rows = [(*head, *values) for head, values in zip(heads, _fixed_rows(gpus), strict=True)] if gpus else []
            self._db.cursor().executemany(_RAW_INSERT, rows)
            self._write_statuses(statuses)
            if snapshots:
                self._roll_up(min(snap.time for snap in snapshots))
        return len(rows)

    def _gpu_map(self) -> dict[tuple[str, int], tuple[int, str, str]]:
        if self._gpu_ids is None:
            rows = self._db.execute_sql("SELECT node, idx, id, uuid, model FROM gpu").fetchall()
            self._gpu_ids = {(node, idx): (gid, uuid, model) for node, idx, gid, uuid, model in rows}
        return self._gpu_ids

    def _gpu_id(self, node: str, gpu: GpuSnapshot) -> int:
        gpus = self._gpu_map()
        known = gpus.get((node, gpu.index))
        if known is not None and known[1:] == (gpu.uuid, gpu.model):
            return known[0]
        if known is None:
            cursor = self._db.execute_sql(
                "INSERT INTO gpu (node, idx, uuid, model) VALUES (?, ?, ?, ?)",
                (node, gpu.index, gpu.uuid, gpu.model),
            )
            gid = int(cursor.lastrowid)
        else:  # same slot, other card (pod replaced): keep the slot's history, note the new card
            gid = known[0]
            self._db.execute_sql(
                "UPDATE gpu SET uuid = ?, model = ? WHERE id = ?", (gpu.uuid, gpu.model, gid)
            )
        gpus[(node, gpu.index)] = (gid, gpu.uuid, gpu.model)
        return gid

    def _node_id(self, name: str) -> int:
        if self._node_ids is None:
            rows = self._db.execute_sql("SELECT name, id FROM node").fetchall()
            self._node_ids = dict(rows)
        if name not in self._node_ids:
            cursor = self._db.execute_sql("INSERT INTO node (name) VALUES (?)", (name,))
            self._node_ids[name] = int(cursor.lastrowid)
        return self._node_ids[name]

    def _write_statuses(self, statuses: Sequence[NodeStatus]) -> None:
        rows = [
            (self._node_id(s.node), math.floor(s.last_attempt), s.state.value, round(s.scrape_ms),
             s.sample_count)
            for s in statuses
            if s.last_attempt is not None and math.isfinite(s.last_attempt) and math.isfinite(s.scrape_ms)
        ]
        self._db.cursor().executemany("INSERT OR REPLACE INTO scrape VALUES (?, ?, ?, ?, ?)", rows)

    def _load_rollup_until(self) -> int | None:
        if not self._meta_loaded:
            row = self._db.execute_sql("SELECT value FROM meta WHERE key = 'rollup_until'").fetchone()
            self._rollup_until = None if row is None else int(row[0])
            self._meta_loaded = True
        return self._rollup_until

    def _roll_up(self, round_time: float) -> None:
        """Roll up every minute that ended before ``round_time`` and is not rolled up yet."""
        until = (math.floor(round_time) - ROLLUP_GRACE_S) // ROLLUP_SECONDS * ROLLUP_SECONDS
        since = self._load_rollup_until()
        if since is not None and until <= since:
            return
        self._db.execute_sql(_ROLLUP_INSERT, (since or 0, until))
        self._db.execute_sql("INSERT OR REPLACE INTO meta (key, value) VALUES ('rollup_until', ?)", (until,))
        self._rollup_until = until

    def apply_retention(self, now: float) -> int:
        """Delete raw rows older than the raw retention and rollups older than theirs.

        Works in short transactions (an hour of one GPU's raw rows at most); returns the
        number of rows deleted.
        """
        raw_cut = math.floor(now - self.raw_retention_s)
        rollup_cut = math.floor(now - self.rollup_retention_s)
        deleted = 0
        with self._guard("deleting expired history"):
            for (gid,) in self._db.execute_sql("SELECT id FROM gpu").fetchall():
                deleted += self._delete_before("raw", "gpu_id", gid, raw_cut, _RAW_BATCH_S)
                deleted += self._delete_before("rollup", "gpu_id", gid, rollup_cut, _ROLLUP_BATCH_S)
            for (nid,) in self._db.execute_sql("SELECT id FROM node").fetchall():
                deleted += self._delete_before("scrape", "node_id", nid, raw_cut, _ROLLUP_BATCH_S)
        return deleted

    def _delete_before(self, table: str, key: str, ident: int, cutoff: int, step: int) -> int:
        deleted = 0
        while True:
            sql = f"SELECT MIN(ts) FROM {table} WHERE {key} = ?"
            first = self._db.execute_sql(sql, (ident,)).fetchone()[0]
            if first is None or first >= cutoff:
                return deleted
            with self._db.atomic():
                cursor = self._db.execute_sql(
                    f"DELETE FROM {table} WHERE {key} = ? AND ts < ?", (ident, min(first + step, cutoff))
                )
            deleted += cursor.rowcount

    # ---- reading -------------------------------------------------------------------------

    def query(
        self,
        node: str,
        gpu_index: int,
        metric_keys: Sequence[str],
        start: float,
        end: float,
        max_points: int = 2000,
    ) -> dict[str, SeriesData]:
        """Chart data for one GPU: at most ``max_points`` points per series over [start, end].

        Raises ValueError for unknown metrics or a bad range; an unknown GPU gives empty series.
        """
        specs = check_args(metric_keys, start, end, max_points)
        with self._guard(f"querying history of {node} GPU {gpu_index}"):
            known = self._gpu_map().get((node, gpu_index))
            if known is None:
                return {spec.key: SeriesData.empty() for spec in specs}
            return query_series(self._db, known[0], specs, start, end, max_points, self._load_rollup_until())

    def latest_time(self) -> float | None:
        """Time of the newest stored sample (raw, else rollup), or None when there is none."""
        with self._guard("reading the latest time"):
            for table in ("raw", "rollup"):
                row = self._db.execute_sql(
                    f"SELECT MAX((SELECT MAX(ts) FROM {table} WHERE gpu_id = gpu.id)) FROM gpu"
                ).fetchone()
                if row[0] is not None:
                    return float(row[0])
        return None

    def known_gpus(self) -> list[KnownGpu]:
        """Every GPU with history, sorted by node and index."""
        with self._guard("listing known GPUs"):
            sql = "SELECT node, idx, uuid, model FROM gpu ORDER BY node, idx"
            rows = self._db.execute_sql(sql).fetchall()
        return [KnownGpu(*row) for row in rows]

    def scrape_history(self, node: str, start: float, end: float) -> list[ScrapeRecord]:
        """A node's recorded polling states in [start, end], oldest first."""
        with self._guard(f"reading scrape history of {node}"):
            rows = self._db.execute_sql(
                "SELECT s.ts, s.state, s.scrape_ms, s.samples FROM scrape s JOIN node n ON n.id = s.node_id"
                " WHERE n.name = ? AND s.ts >= ? AND s.ts <= ? ORDER BY s.ts",
                (node, math.floor(start), math.ceil(end)),
            ).fetchall()
        return [ScrapeRecord(float(ts), state, float(ms or 0), int(n or 0)) for ts, state, ms, n in rows]
