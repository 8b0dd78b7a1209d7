"""History file schema: creation, idempotent open, forward migration, refusing newer files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus
from gpuwatch_desktop.storage import SCHEMA_VERSION, HistoryStore, KnownGpu

T0 = 1_700_000_040


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_new_file_is_wal_at_the_current_version_and_reopening_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.sqlite3"  # the folder is created
    with HistoryStore(path) as store:
        gpu = GpuSnapshot(0, "GPU-1", "H100", "0000:01:00.0", {"gpu_util": 42})
        store.write_round([NodeSnapshot("n", "n", T0, (gpu,))])
    schema = read(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert read(path, "PRAGMA journal_mode") == [("wal",)]
    with HistoryStore(path) as again:
        assert again.known_gpus() == [KnownGpu("n", 0, "GPU-1", "H100")]
        assert list(again.query("n", 0, ["gpu_util"], T0, T0)["gpu_util"].mean) == [42]
    assert read(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


# A file as version 1 wrote it, when the registry only had two metrics.
VERSION_1 = """
CREATE TABLE gpu (id INTEGER PRIMARY KEY, node TEXT NOT NULL, idx INTEGER NOT NULL,
  uuid TEXT NOT NULL, model TEXT NOT NULL, UNIQUE (node, idx));
CREATE TABLE raw (gpu_id INTEGER NOT NULL, ts INTEGER NOT NULL, gpu_util INTEGER, power INTEGER,
  PRIMARY KEY (gpu_id, ts)) WITHOUT ROWID;
CREATE TABLE rollup (gpu_id INTEGER NOT NULL, ts INTEGER NOT NULL, gpu_util_min INTEGER,
  gpu_util_avg INTEGER, gpu_util_max INTEGER, power_min INTEGER, power_avg INTEGER, power_max INTEGER,
  PRIMARY KEY (gpu_id, ts)) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
INSERT INTO gpu VALUES (1, 'old-node', 3, 'GPU-old', 'A100');
INSERT INTO raw VALUES (1, 1700000040, 77, 3005);
PRAGMA user_version = 1;
"""


def test_a_version_1_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(VERSION_1)
    with HistoryStore(path) as store:
        assert store.known_gpus() == [KnownGpu("old-node", 3, "GPU-old", "A100")]
        got = store.query("old-node", 3, ["gpu_util", "power", "gpu_temp"], T0, T0)
        assert (got["gpu_util"].mean[0], got["power"].mean[0]) == (77, 300.5)
        gpu = GpuSnapshot(3, "GPU-old", "A100", "", {"gpu_util": 1, "gpu_temp": 60})
        status = NodeStatus("old-node", NodeState.UP, last_attempt=T0 + 2)
        store.write_round([NodeSnapshot("old-node", "h", T0 + 2, (gpu,))], statuses=[status])
        assert list(store.query("old-node", 3, ["gpu_temp"], T0, T0 + 2)["gpu_temp"].mean[1:]) == [60]
        assert len(store.scrape_history("old-node", T0, T0 + 2)) == 1
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    columns = {row[1] for row in read(path, "PRAGMA table_info(raw)")}
    assert {m.key for m in GPU_METRICS} <= columns


def test_a_file_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE future_table (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
    with pytest.raises(StorageError, match="newer than this version") as caught:
        HistoryStore(path)
    assert str(path) in str(caught.value)
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert read(path, "SELECT name FROM sqlite_master") == [("future_table",)]
