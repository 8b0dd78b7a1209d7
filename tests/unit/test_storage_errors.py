"""History store failures: each is a StorageError naming the file, and the store recovers."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.storage import HistoryStore

T0 = 1_700_000_040


def round_of(t: float, gpus: int = 1, node: str = "n") -> list[NodeSnapshot]:
    cards = tuple(GpuSnapshot(i, f"GPU-{i}", "H100", "", {"gpu_util": 50, "power": 300}) for i in range(gpus))
    return [NodeSnapshot(node, node, t, cards)]


def stored_times(store: HistoryStore, node: str = "n") -> list[float]:
    return list(store.query(node, 0, ["gpu_util"], T0 - 10, T0 + 600)["gpu_util"].ts)


def test_a_database_locked_elsewhere_fails_the_write_then_the_next_one_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path, busy_timeout_ms=100) as store:
        store.write_round(round_of(T0))
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StorageError, match="locked") as caught:
                store.write_round(round_of(T0 + 2))
            assert str(path) in str(caught.value) and "writing a poll round" in str(caught.value)
            other.execute("COMMIT")
        store.write_round(round_of(T0 + 4))
        assert stored_times(store) == [T0, T0 + 4]


def test_a_full_disk_fails_the_write_and_loses_nothing_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as store:
        store.write_round(round_of(T0))
        pages = store.database.execute_sql("PRAGMA page_count").fetchone()[0]
        store.database.execute_sql(f"PRAGMA max_page_count = {pages}")  # no room to grow: SQLITE_FULL
        with pytest.raises(StorageError, match="full") as caught:
            store.write_round(round_of(T0 + 2, gpus=2000))
        assert str(path) in str(caught.value)
        assert stored_times(store) == [T0]  # the failed round left nothing behind
        store.write_round(round_of(T0 + 4))  # the store reconnected: the limit is gone
        assert stored_times(store) == [T0, T0 + 4]


def test_a_corrupt_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database, just some text that a user copied here\n" * 100)
    with pytest.raises(StorageError, match="opening failed") as caught:
        HistoryStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes().startswith(b"this is not a database")


def test_damage_inside_the_file_is_reported_when_used(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as store:
        for i in range(300):
            store.write_round(round_of(T0 + 2 * i, gpus=4))
        store.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        last_root = store.database.execute_sql("SELECT MAX(rootpage) FROM sqlite_master").fetchone()[0]
    data = bytearray(path.read_bytes())
    # every table's root page (pages 1..last_root) survives, so the file opens; the data pages past them do not
    for page_start in range(last_root * 4096, len(data), 4096):
        data[page_start : page_start + 100] = b"\xff" * 100
    path.write_bytes(bytes(data))
    with HistoryStore(path) as damaged:
        with pytest.raises(StorageError, match=r"malformed.*move it away") as caught:
            damaged.query("n", 1, ["gpu_util"], T0, T0 + 600)
        assert str(path) in str(caught.value) and "querying history of n GPU 1" in str(caught.value)
        with pytest.raises(StorageError, match="malformed"):
            damaged.write_round(round_of(T0 + 1000))


def test_a_path_that_cannot_be_created_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="a-file"):
        HistoryStore(blocker / "history.sqlite3")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_a_read_only_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="opening failed"):
            HistoryStore(folder / "h.sqlite3")
    finally:
        folder.chmod(0o700)


def test_a_store_that_was_closed_reopens_its_connection(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    store.write_round(round_of(T0))
    store.close()
    store.write_round(round_of(T0 + 2))
    assert stored_times(store) == [T0, T0 + 2]
    store.close()
