"""One answer in the chat: shows the agent's events in the ``ChatView`` as they come and says which rows it leaves
in the conversation, whether it ends with an answer, a failure or Stop.

What the model saw (its messages) is stored as is, each tool result with the step shown; what was shown but is
not part of those messages (text and steps of an unfinished step, a failure, "Stopped") is stored as notices:
shown again when the conversation is reopened, never sent to the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpuwatch_desktop.agent.events import AgentFailed, AnswerFinished, ChatMessage, ToolFinished
from gpuwatch_desktop.storage import StoredMessage, ToolStep, notice_message
from gpuwatch_desktop.ui.chat_view import ChatView

FAILURE_TITLES = {
    "server": "The model server failed",
    "timeout": "No answer in time",
    "context_length": "The conversation is too long for the model",
    "config": "The model settings need attention",
    "empty": "No answer",
    "cancelled": "Stopped",
}
STOPPED = "You stopped this answer. The conversation goes on: ask again, or ask something else."


def failure_text(event: AgentFailed) -> str:
    return f"{FAILURE_TITLES.get(event.kind, 'Failed')}. {event.message}"


def _notice(text: str, level: str) -> StoredMessage:
    return StoredMessage(notice_message(text, level), notice=True)


class RunRecord:
    """The items one answer showed, in order: streamed text and tool steps."""

    def __init__(self, view: ChatView) -> None:
        self._view = view
        self._items: list[tuple[str, str]] = []  # ("text", markdown) or ("step", call id), as shown
        self._current = ""  # text streamed since the last tool step
        self._started: dict[str, tuple[str, str]] = {}  # call id -> (name, arguments)
        self._finished: dict[str, tuple[ToolStep, str]] = {}  # call id -> (step, result)

    def text(self, delta: str) -> None:
        self._current += delta
        self._view.show_partial_answer(self._current)

    def _close_text(self) -> None:
        if self._current.strip():
            self._items.append(("text", self._current))
        self._current = ""

    def tool_started(self, call_id: str, name: str, arguments: str) -> None:
        self._close_text()
        self._items.append(("step", call_id))
        self._started[call_id] = (name, arguments)
        self._view.add_step(call_id, name, arguments)

    def tool_finished(self, event: ToolFinished) -> None:
        arguments = self._started.get(event.call_id, (event.name, ""))[1]
        step = ToolStep(event.name, arguments, event.summary, event.duration_ms, event.ok, event.cached)
        self._finished[event.call_id] = (step, event.result)
        self._view.finish_step(event.call_id, step, event.result)

    # ---- endings: each shows its end and returns the rows to keep ------------------------

    def answered(self, event: AnswerFinished, max_steps: int) -> list[StoredMessage]:
        finals = [m.get("content") for m in event.messages if m.get("role") == "assistant" and not m.get("tool_calls")]
        final = finals[-1] if finals and isinstance(finals[-1], str) else self._current or event.text
        self._view.end_answer(final)
        rows = self._message_rows(event.messages)
        if event.forced:
            note = (f"The step limit ({max_steps} steps) was reached, so this answer was written without "
                    "further tool calls. Ask a follow-up to look further.")
            self._view.add_notice(note, "info")
            rows.append(_notice(note, "info"))
        return rows

    def failed(self, event: AgentFailed) -> list[StoredMessage]:
        text = failure_text(event) if event.kind != "cancelled" else STOPPED
        level = "info" if event.kind == "cancelled" else "error"
        return self._ended(event.messages, text, level)

    def stopped(self) -> list[StoredMessage]:
        return self._ended((), STOPPED, "info")

    def notes(self, text: str) -> list[StoredMessage]:
        """The tools ran without a model: everything shown is kept as notices, then ``text``."""
        return self._ended((), text, "info")

    def _ended(self, messages: Sequence[ChatMessage], text: str, level: str) -> list[StoredMessage]:
        self._close_text()
        self._view.end_answer()
        self._view.stop_steps()
        self._view.add_notice(text, level)
        return [*self._message_rows(messages), *self._leftovers(messages), _notice(text, level)]

    def _message_rows(self, messages: Sequence[ChatMessage]) -> list[StoredMessage]:
        rows = []
        for message in messages:
            found = self._finished.get(str(message.get("tool_call_id"))) if message.get("role") == "tool" else None
            rows.append(StoredMessage(dict(message), found[0] if found else None))
        return rows

    def _leftovers(self, messages: Sequence[ChatMessage]) -> list[StoredMessage]:
        """Items shown after the last step the messages hold, as notices (unfinished steps left out)."""
        covered = {str(m.get("tool_call_id")) for m in messages if m.get("role") == "tool"}
        last = max((i for i, (kind, value) in enumerate(self._items) if kind == "step" and value in covered),
                   default=-1)
        rows = []
        for kind, value in self._items[last + 1:]:
            if kind == "text":
                rows.append(StoredMessage({"role": "assistant", "content": value}, notice=True))
            elif value in self._finished:
                step, result = self._finished[value]
                rows.append(StoredMessage({"role": "tool", "tool_call_id": value, "content": result}, step, True))
        return rows
