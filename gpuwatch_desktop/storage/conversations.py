"""The agent's chat conversations in the history file (tables in ``schema`` v4).

A conversation is a titled list of messages in order. Each message is stored as its OpenAI-format JSON
(``{"role": ..., "content": ..., "tool_calls": [...], "tool_call_id": ...}``); a tool result also keeps the
step the chat showed for it (``ToolStep``), so a reopened conversation shows its steps. A *notice* is a row
shown in the chat but never sent to the model: a failure, "Stopped", or the tool results of a quick action
run without a model.

Threading is the history store's: build a ``ConversationStore`` from ``HistoryStore.database`` and call it
only from the store's worker thread (``HistoryWorker.run``).

Failures: every sqlite/peewee/OS error, a stored message that cannot be read back and a conversation that is
gone are ``StorageError`` naming what failed and the file. Bad arguments (an empty title, a message that is
not a JSON object with a role) are ``ValueError`` and change nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import peewee

from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.storage.store import table_guard

TITLE_MAX = 200  # characters kept of a title
_CONVERSATION_COLUMNS = "id, title, created, updated, model"
_MESSAGE_COLUMNS = (
    "notice, message, step_name, step_arguments, step_summary, step_duration_ms, step_ok, step_cached"
)


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    created: float  # unix seconds
    updated: float  # the last message appended (or the rename)
    model: str  # the model it was started with


@dataclass(frozen=True, slots=True)
class ToolStep:
    """A tool call as the chat showed it: name, the raw arguments, a one-line summary, duration, outcome."""

    name: str
    arguments: str
    summary: str
    duration_ms: float
    ok: bool
    cached: bool = False  # answered from an identical earlier call


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message: dict[str, Any]  # OpenAI chat format; a notice may use role "notice" (see ``notice_message``)
    step: ToolStep | None = None  # for a tool result: the step shown
    notice: bool = False  # shown in the chat only, never sent to the model


def notice_message(text: str, level: str = "error") -> dict[str, Any]:
    """The message of a notice row that is not a user question or a tool result: level "error" or "info"."""
    return {"role": "notice", "level": level, "content": text}


def model_history(messages: Sequence[StoredMessage]) -> list[dict[str, Any]]:
    """What the model sees of a conversation: every message that is not a notice, in order."""
    return [m.message for m in messages if not m.notice]


def clean_title(title: str) -> str:
    """``title`` on one line with single spaces, at most ``TITLE_MAX`` characters; ValueError when empty."""
    text = " ".join(title.split())
    if not text:
        raise ValueError("a conversation needs a title")
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


def title_for(question: str, limit: int = 60) -> str:
    """A title made from a question: its words, cut at ``limit`` characters."""
    text = " ".join(question.split()) or "New conversation"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _encode(stored: StoredMessage) -> tuple[object, ...]:
    message = stored.message
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise ValueError(f"a chat message must be a JSON object with a role, not {message!r:.80}")
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a chat message cannot be stored as JSON: {exc}") from exc
    step = stored.step
    if step is None:
        return (int(stored.notice), text, None, None, None, None, None, None)
    return (int(stored.notice), text, step.name, step.arguments, step.summary, float(step.duration_ms),
            int(step.ok), int(step.cached))


def _decode(row: Sequence[Any]) -> StoredMessage:
    notice, text, name, arguments, summary, duration_ms, ok, cached = row
    message = json.loads(text)
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise ValueError(f"a stored message is not a chat message: {text[:80]!r}")
    step = None if name is None else ToolStep(name, arguments or "", summary or "", duration_ms or 0.0,
                                               bool(ok), bool(cached))
    return StoredMessage(message, step, bool(notice))


class ConversationStore:
    """The conversation tables of one history database."""

    def __init__(self, db: peewee.SqliteDatabase) -> None:
        self._db = db

    def _guard(self, what: str) -> AbstractContextManager[None]:
        return table_guard(self._db, what)

    def create(self, title: str, model: str, messages: Sequence[StoredMessage] = (),
               now: float | None = None) -> Conversation:
        """A new conversation holding ``messages``, in one transaction."""
        title = clean_title(title)
        rows = [_encode(m) for m in messages]  # ValueError before anything is written
        when = time.time() if now is None else now
        with self._guard("creating a conversation"), self._db.atomic():
            cursor = self._db.execute_sql(
                "INSERT INTO conversation (title, created, updated, model) VALUES (?, ?, ?, ?)",
                (title, when, when, model),
            )
            conversation = Conversation(int(cursor.lastrowid), title, when, when, model)
            self._insert(conversation.id, 0, rows)
        return conversation

    def _insert(self, conversation_id: int, first: int, rows: Sequence[tuple[object, ...]]) -> None:
        self._db.cursor().executemany(
            f"INSERT INTO conversation_message (conversation_id, position, {_MESSAGE_COLUMNS})"
            f" VALUES (?, ?, {', '.join('?' * 8)})",
            [(conversation_id, first + i, *row) for i, row in enumerate(rows)],
        )

    def conversations(self) -> list[Conversation]:
        """Every conversation, the most recently updated first."""
        with self._guard("reading the conversations"):
            rows = self._db.execute_sql(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversation ORDER BY updated DESC, id DESC"
            ).fetchall()
        return [Conversation(*row) for row in rows]

    def get(self, conversation_id: int) -> Conversation | None:
        with self._guard(f"reading conversation {conversation_id}"):
            row = self._db.execute_sql(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversation WHERE id = ?", (conversation_id,)
            ).fetchone()
        return None if row is None else Conversation(*row)

    def rename(self, conversation_id: int, title: str, now: float | None = None) -> bool:
        """Give a conversation a new title; False when there is none with that id."""
        title = clean_title(title)
        when = time.time() if now is None else now
        with self._guard(f"renaming conversation {conversation_id}"), self._db.atomic():
            cursor = self._db.execute_sql(
                "UPDATE conversation SET title = ?, updated = ? WHERE id = ?", (title, when, conversation_id)
            )
            return bool(cursor.rowcount)

    def delete(self, conversation_id: int) -> bool:
        """Delete a conversation and its messages; False when there is none with that id."""
        with self._guard(f"deleting conversation {conversation_id}"), self._db.atomic():
            self._db.execute_sql("DELETE FROM conversation_message WHERE conversation_id = ?", (conversation_id,))
            cursor = self._db.execute_sql("DELETE FROM conversation WHERE id = ?", (conversation_id,))
            return bool(cursor.rowcount)

    def append(self, conversation_id: int, messages: Sequence[StoredMessage], now: float | None = None) -> None:
        """Add ``messages`` after the conversation's last one, in one transaction."""
        rows = [_encode(m) for m in messages]  # ValueError before anything is written
        when = time.time() if now is None else now
        with self._guard(f"saving messages of conversation {conversation_id}"), self._db.atomic():
            found = self._db.execute_sql(
                "SELECT (SELECT COALESCE(MAX(position) + 1, 0) FROM conversation_message WHERE conversation_id = ?)"
                " FROM conversation WHERE id = ?", (conversation_id, conversation_id)
            ).fetchone()
            if found is None:
                raise StorageError(f"conversation {conversation_id} no longer exists (deleted?)")
            self._insert(conversation_id, int(found[0]), rows)
            self._db.execute_sql("UPDATE conversation SET updated = ? WHERE id = ?", (when, conversation_id))

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """A conversation's messages in order; StorageError when it does not exist or a row cannot be read."""
        with self._guard(f"reading conversation {conversation_id}"):
            if self._db.execute_sql("SELECT 1 FROM conversation WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise StorageError(f"conversation {conversation_id} no longer exists (deleted?)")
            rows = self._db.execute_sql(
                f"SELECT {_MESSAGE_COLUMNS} FROM conversation_message WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
            return [_decode(row) for row in rows]
