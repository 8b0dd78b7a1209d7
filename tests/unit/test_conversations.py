"""Conversations in the history file: create, list, rename, delete, append, load; across a reopen (restart); the
v3 -> v4 migration keeping everything; bad input refused with nothing changed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import peewee
import pytest

from gpuwatch_desktop.core.alerts import AlertRule
from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.storage import (
    SCHEMA_VERSION,
    ConversationStore,
    HistoryStore,
    KnownGpu,
    StoredMessage,
    ToolStep,
    model_history,
    notice_message,
    rule_to_json,
    title_for,
)
from gpuwatch_desktop.storage.schema import MIGRATIONS

T0 = 1_700_000_040.0
CALL = {"id": "call_1", "type": "function", "function": {"name": "cluster_status", "arguments": "{}"}}
STEP = ToolStep("cluster_status", "{}", "8 GPUs on 2 nodes", 12.5, ok=True, cached=False)
EXCHANGE = [
    StoredMessage({"role": "user", "content": "What's wrong with the cluster?"}),
    StoredMessage({"role": "assistant", "content": None, "tool_calls": [CALL]}),
    StoredMessage({"role": "tool", "tool_call_id": "call_1", "content": '{"nodes": 2, "note": "ünïcode ✓"}'}, STEP),
    StoredMessage({"role": "assistant", "content": "| node | state |\n|---|---|\n| a | up |"}),
]


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_a_conversation_survives_a_restart_with_its_messages_and_steps(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as store:
        chats = ConversationStore(store.database)
        first = chats.create("What's wrong with the cluster?", "qwen3", EXCHANGE[:1], now=T0)
        chats.append(first.id, EXCHANGE[1:], now=T0 + 5)
        chats.append(first.id, [StoredMessage(notice_message("Stopped.", "info"), notice=True)], now=T0 + 6)
    with HistoryStore(path) as again:  # a new store on the same file: what the next start sees
        chats = ConversationStore(again.database)
        [saved] = chats.conversations()
        assert (saved.title, saved.created, saved.updated, saved.model) == (
            "What's wrong with the cluster?", T0, T0 + 6, "qwen3")
        loaded = chats.messages(saved.id)
    assert loaded[:4] == EXCHANGE
    assert loaded[2].step == STEP
    assert loaded[4] == StoredMessage({"role": "notice", "level": "info", "content": "Stopped."}, notice=True)
    assert model_history(loaded) == [m.message for m in EXCHANGE]  # the notice is never sent to the model


def test_list_is_newest_first_rename_and_delete(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        chats = ConversationStore(store.database)
        old = chats.create("old", "m", now=T0)
        new = chats.create("new", "m", now=T0 + 10)
        assert [c.title for c in chats.conversations()] == ["new", "old"]
        chats.append(old.id, EXCHANGE[:1], now=T0 + 20)  # a message moves it to the top
        assert [c.title for c in chats.conversations()] == ["old", "new"]
        assert chats.rename(new.id, "  GPU 3\n on node-b   is hot ", now=T0 + 30)
        assert chats.get(new.id) is not None and chats.get(new.id).title == "GPU 3 on node-b is hot"  # type: ignore[union-attr]
        assert chats.delete(old.id)
        assert [c.title for c in chats.conversations()] == ["GPU 3 on node-b is hot"]
        assert read(store.path, "SELECT COUNT(*) FROM conversation_message") == [(0,)]  # its messages went too
        assert not chats.delete(old.id)
        assert not chats.rename(old.id, "gone")
        with pytest.raises(StorageError, match=f"conversation {old.id} no longer exists"):
            chats.messages(old.id)
        with pytest.raises(StorageError, match=f"conversation {old.id} no longer exists"):
            chats.append(old.id, EXCHANGE[:1])


def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        chats = ConversationStore(store.database)
        chat = chats.create("t", "m", now=T0)
        chats.append(chat.id, EXCHANGE[:1], now=T0)
        with pytest.raises(ValueError, match="needs a title"):
            chats.create(" \n ", "m")
        with pytest.raises(ValueError, match="must be a JSON object with a role"):
            chats.create("t2", "m", [EXCHANGE[0], StoredMessage({"content": "no role"})])
        with pytest.raises(ValueError, match="needs a title"):
            chats.rename(chat.id, "")
        with pytest.raises(ValueError, match="cannot be stored as JSON"):
            chats.append(chat.id, [EXCHANGE[1], StoredMessage({"role": "user", "content": float("nan")})])
        with pytest.raises(ValueError, match="must be a JSON object with a role"):
            chats.append(chat.id, [StoredMessage({"content": "no role"})])
        assert chats.messages(chat.id) == EXCHANGE[:1]
        assert [(c.title, c.updated) for c in chats.conversations()] == [("t", T0)]


def test_a_damaged_row_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as store:
        chats = ConversationStore(store.database)
        chat = chats.create("t", "m")
        store.database.execute_sql(
            "INSERT INTO conversation_message (conversation_id, position, notice, message) VALUES (?, 0, 0, '{oops')",
            (chat.id,))
        where = f"reading conversation {chat.id} failed for history database .*h.sqlite3"
        with pytest.raises(StorageError, match=where):
            chats.messages(chat.id)
        assert chats.conversations()[0].title == "t"  # the store keeps working
        store.database.execute_sql("DROP TABLE conversation_message")
        with pytest.raises(StorageError, match=r"creating a conversation failed .*no such table"):
            chats.create("half", "m", EXCHANGE)
        assert [c.title for c in chats.conversations()] == ["t"]  # no empty conversation left behind


def test_titles_from_questions() -> None:
    assert title_for("  Why is GPU\nutilisation low?  ") == "Why is GPU utilisation low?"
    long = title_for("word " * 40)
    assert len(long) == 60 and long.endswith("…")
    assert title_for("   ") == "New conversation"


def write_version_3_file(path: Path) -> None:
    """A history file as version 3 left it: the frozen steps 1 to 3, a sample, an alert rule and an event."""
    db = peewee.SqliteDatabase(str(path))
    with db.connection_context():
        for step in MIGRATIONS[:3]:
            step(db)
        db.execute_sql("PRAGMA user_version = 3")
        db.execute_sql("INSERT INTO gpu VALUES (1, 'old-node', 0, 'GPU-old', 'A100')")
        db.execute_sql(f"INSERT INTO raw (gpu_id, ts, gpu_util) VALUES (1, {int(T0)}, 77)")
        rule = rule_to_json(AlertRule("r", "Rule", threshold=1))
        db.execute_sql("INSERT INTO alert_rule VALUES ('r', 0, 1, ?)", (rule,))
        db.execute_sql(
            "INSERT INTO alert_event (ts, rule_id, rule_name, node, gpu, state, previous, severity, value, summary,"
            f" silenced) VALUES ({T0}, 'r', 'Rule', 'old-node', 0, 'firing', 'pending', 'warning', 2.0, 'fired', 0)")


def test_a_version_3_file_gains_conversations_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    write_version_3_file(path)
    assert read(path, "SELECT name FROM sqlite_master WHERE name LIKE 'conversation%'") == []
    with HistoryStore(path) as store:
        assert store.known_gpus() == [KnownGpu("old-node", 0, "GPU-old", "A100")]
        assert list(store.query("old-node", 0, ["gpu_util"], T0, T0)["gpu_util"].mean) == [77]
        assert [r.id for r in store.alerts().list_rules()] == ["r"]
        assert [e.summary for e in store.alerts().events()] == ["fired"]
        chats = ConversationStore(store.database)
        chat = chats.create("after the upgrade", "m")
        chats.append(chat.id, EXCHANGE)
    assert SCHEMA_VERSION == 4
    assert read(path, "PRAGMA user_version") == [(4,)]
    with HistoryStore(path) as again:
        assert ConversationStore(again.database).messages(chat.id) == EXCHANGE
        assert [e.summary for e in again.alerts().events()] == ["fired"]
