"""Carries out what the chat dock asks: runs the agent for a question (events shown as they come), Stop, the
tools alone when no model is set up, and the conversations saved in the history database.

One answer runs at a time, as a named task; Stop cancels its agent run at once (the HTTP request and the tools)
and what was shown is kept as notices. Conversation storage runs on the history database thread; its errors
are shown in the dock and never stop the chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import qasync
from PySide6.QtCore import QObject

from gpuwatch_desktop.agent.events import (
    AgentEvent,
    AgentFailed,
    AnswerFinished,
    ChatMessage,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from gpuwatch_desktop.config.llm import LlmConfig
from gpuwatch_desktop.core.errors import GpuwatchError, StorageError
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.storage import (
    Conversation,
    ConversationStore,
    StoredMessage,
    model_history,
    notice_message,
    title_for,
)
from gpuwatch_desktop.ui.chat_dock import QUICK_PROMPTS, ChatDock
from gpuwatch_desktop.ui.chat_run import RunRecord, failure_text

log = logging.getLogger(__name__)
T = TypeVar("T")

# The tools each quick prompt runs by itself when no model is set up.
QUICK_TOOLS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    QUICK_PROMPTS[0]: (("cluster_status", {}), ("active_alerts", {})),
    QUICK_PROMPTS[1]: (("cluster_status", {}), ("top_gpu_processes", {}), ("slurm_jobs", {"state": "all"})),
    QUICK_PROMPTS[2]: (("active_alerts", {}),),
}
NO_MODEL_QUESTION = ("No model is set up, so questions cannot be answered yet. Set one up in Settings → Model "
                     "(Detect local servers finds vLLM, Ollama or LM Studio on this machine); meanwhile the quick "
                     "prompts run the diagnostic tools directly.")
NO_MODEL_TOOLS = ("No model is set up: these are the tools' own results, without an answer. Set up a model in "
                  "Settings → Model to have them explained.")


class AgentRunner(Protocol):
    """What answers a question: ``AgentSession`` (agent/loop.py)."""

    def run(self, history: Sequence[ChatMessage], question: str) -> AsyncIterator[AgentEvent]: ...


class ToolOutcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def result(self) -> str: ...


class SessionFactory(Protocol):
    """Makes the session for a question with the settings of the moment (``chat_install.AgentSessions``)."""

    async def __call__(self, config: LlmConfig) -> AgentRunner: ...  # GpuwatchError: no key, bad settings

    async def aclose(self) -> None: ...


RunTool = Callable[[str, dict[str, Any]], Awaitable[str | ToolOutcome]]  # a tool run directly, no model


class ChatController(QObject):
    """Connects ``dock`` to the agent and the conversation store. See ``install_chat_dock`` for the wiring."""

    def __init__(self, dock: ChatDock, history: HistoryWorker | None, llm_config: Callable[[], LlmConfig],
                 new_session: SessionFactory, run_tool: RunTool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dock = self._dock = dock
        self._history = history
        self._llm_config = llm_config
        self._new_session = new_session
        self._run_tool = run_tool
        self.conversation: Conversation | None = None  # None: a new one, saved with its first message
        self.messages: list[StoredMessage] = []  # the current conversation as shown
        self._task: asyncio.Task[None] | None = None  # the answer in progress
        self._stream: asyncio.Future[list[StoredMessage]] | None = None  # its agent run or tool runs
        self._stop_wanted = False
        dock.askRequested.connect(self._on_ask_requested)
        dock.quickPromptRequested.connect(self._on_quick_prompt_requested)
        dock.stopRequested.connect(self._on_stop_requested)
        dock.newRequested.connect(self._on_new_requested)
        dock.openRequested.connect(self._on_open_requested)
        dock.renameRequested.connect(self._on_rename_requested)
        dock.deleteRequested.connect(self._on_delete_requested)

    # ---- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Show whether a model is set up and the saved conversations."""
        self.settings_changed()
        await self._reload_list()

    def settings_changed(self) -> None:
        """Call after the settings changed: the dock says which model answers, or how to set one up."""
        config = self._llm_config()
        self._dock.set_configured(config.configured, f"{config.model} at {config.base_url}")

    @property
    def busy(self) -> bool:
        return self._task is not None

    async def aclose(self) -> None:
        """Cancel the answer in progress and close the model client (at shutdown, before the history database)."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._new_session.aclose()

    # ---- answering -----------------------------------------------------------------------

    def _on_ask_requested(self, question: str) -> None:
        self._begin(self._answer(question, quick=False))

    def _on_quick_prompt_requested(self, prompt: str) -> None:
        self._begin(self._answer(prompt, quick=True))

    def _begin(self, work: Coroutine[Any, Any, None]) -> None:
        if self._task is not None:
            work.close()
            return
        self._stop_wanted = False
        self._dock.show_error("")
        self._dock.set_running(True)
        self._task = asyncio.get_running_loop().create_task(work, name="chat-answer")
        self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        self._dock.set_running(False)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("chat answer failed", exc_info=error)
            self._dock.show_error(f"Unexpected {type(error).__name__}: {error}")

    def _on_stop_requested(self) -> None:
        self._stop_wanted = True
        if self._stream is not None:
            self._stream.cancel()

    async def _answer(self, question: str, quick: bool) -> None:
        config = self._llm_config()
        view = self._dock.view
        view.add_user(question)
        user: ChatMessage = {"role": "user", "content": question}
        record = RunRecord(view)
        if config.configured:
            history = model_history(self.messages)
            await self._save([StoredMessage(user)])
            rows = await self._cancellable(self._agent_rows(config, history, question, record), record)
        elif quick:
            await self._save([StoredMessage(user, notice=True)])
            rows = await self._cancellable(self._tool_rows(question, record), record)
        else:
            view.add_notice(NO_MODEL_QUESTION, "info")
            note = notice_message(NO_MODEL_QUESTION, "info")
            rows = [StoredMessage(user, notice=True), StoredMessage(note, notice=True)]
        await self._save(rows)

    async def _cancellable(self, work: Coroutine[Any, Any, list[StoredMessage]],
                           record: RunRecord) -> list[StoredMessage]:
        """Run ``work`` so that Stop cancels it at once; what was shown then is kept as notices."""
        if self._stop_wanted:
            work.close()
            return record.stopped()
        stream = self._stream = asyncio.ensure_future(work)
        try:
            await asyncio.wait({stream})
        finally:
            stream.cancel()  # we were cancelled ourselves (shutdown): end the run too
            self._stream = None
        if stream.cancelled():
            return record.stopped()
        error = stream.exception()
        if error is not None:  # a bug in the agent or a tool: shown, the conversation goes on
            log.error("agent run failed", exc_info=error)
            return record.failed(AgentFailed("server", f"Unexpected {type(error).__name__}: {error}"))
        return stream.result()

    async def _agent_rows(self, config: LlmConfig, history: list[ChatMessage], question: str,
                          record: RunRecord) -> list[StoredMessage]:
        try:
            session = await self._new_session(config)
        except GpuwatchError as exc:
            return record.failed(AgentFailed("config", str(exc)))
        async for event in session.run(history, question):
            if isinstance(event, TextDelta):
                record.text(event.text)
            elif isinstance(event, ToolStarted):
                record.tool_started(event.call_id, event.name, event.arguments)
            elif isinstance(event, ToolFinished):
                record.tool_finished(event)
            elif isinstance(event, AnswerFinished):
                return record.answered(event, config.max_steps)
            else:
                return record.failed(event)
        return record.failed(AgentFailed("empty", "The agent ended without an answer. Ask again."))

    async def _tool_rows(self, prompt: str, record: RunRecord) -> list[StoredMessage]:
        """No model: run the prompt's tools one after the other and show what each returned."""
        for index, (name, arguments) in enumerate(QUICK_TOOLS.get(prompt, ())):
            call_id = f"direct_{index}"
            record.tool_started(call_id, name, json.dumps(arguments))
            started = asyncio.get_running_loop().time()
            try:
                outcome = await self._run_tool(name, arguments)
            except Exception as exc:  # a tool's bug: shown in its step
                log.warning("tool %s failed", name, exc_info=True)
                ok, summary, result = False, f"failed: {type(exc).__name__}", f"{type(exc).__name__}: {exc}"
            else:
                ok, summary, result = _outcome(outcome)
            ms = (asyncio.get_running_loop().time() - started) * 1000
            record.tool_finished(ToolFinished(call_id, name, ok, summary, result, ms))
            self._dock.view.steps[call_id].header.setChecked(True)  # the results are the answer here: shown
        return record.notes(NO_MODEL_TOOLS)

    # ---- conversations -------------------------------------------------------------------

    async def _db(self, fn: Callable[[ConversationStore], T]) -> T:
        if self._history is None:
            raise StorageError("the history database is not open")
        return await self._history.run(lambda store: fn(ConversationStore(store.database)))

    async def _save(self, rows: Sequence[StoredMessage]) -> None:
        """Keep ``rows`` in the conversation (saving it first if it is new); a storage error is shown, not raised."""
        self.messages.extend(rows)
        if not rows:
            return
        conversation, model = self.conversation, self._llm_config().model
        title = title_for(next((str(m.message.get("content")) for m in self.messages
                                if m.message.get("role") == "user"), ""))
        try:
            if conversation is None:
                messages = list(self.messages)
                self.conversation = await self._db(lambda c: c.create(title, model, messages))
            else:
                await self._db(lambda c: c.append(conversation.id, rows))
        except StorageError as exc:
            self._dock.show_error(f"Conversation not saved: {exc}")
            return
        await self._reload_list()

    async def _reload_list(self) -> None:
        try:
            conversations = await self._db(lambda c: c.conversations())
        except StorageError as exc:
            self._dock.show_error(f"Saved conversations unavailable: {exc}")
            conversations = []
        current = self.conversation.id if self.conversation is not None else None
        self._dock.set_conversations(conversations, current)

    @qasync.asyncSlot(int)
    async def _on_open_requested(self, conversation_id: int) -> None:
        if self.busy:
            return
        try:
            conversation, messages = await self._db(lambda c: (c.get(conversation_id), c.messages(conversation_id)))
        except StorageError as exc:
            self._dock.show_error(f"Conversation not opened: {exc}")
            await self._reload_list()
            return
        self.conversation, self.messages = conversation, messages
        self._dock.show_error("")
        self._dock.view.show_messages(messages)
        await self._reload_list()

    @qasync.asyncSlot()
    async def _on_new_requested(self) -> None:
        if self.busy:
            return
        self.conversation, self.messages = None, []
        self._dock.view.clear()
        self._dock.show_error("")
        await self._reload_list()

    @qasync.asyncSlot(int, str)
    async def _on_rename_requested(self, conversation_id: int, title: str) -> None:
        try:
            await self._db(lambda c: c.rename(conversation_id, title))
        except (StorageError, ValueError) as exc:
            self._dock.show_error(f"Conversation not renamed: {exc}")
        await self._reload_list()

    @qasync.asyncSlot(int)
    async def _on_delete_requested(self, conversation_id: int) -> None:
        if self.busy:
            return
        try:
            await self._db(lambda c: c.delete(conversation_id))
        except StorageError as exc:
            self._dock.show_error(f"Conversation not deleted: {exc}")
        else:
            if self.conversation is not None and self.conversation.id == conversation_id:
                self.conversation, self.messages = None, []
                self._dock.view.clear()
        await self._reload_list()


def _outcome(outcome: str | ToolOutcome) -> tuple[bool, str, str]:
    if isinstance(outcome, str):
        first = outcome.strip().split("\n", 1)[0]
        return True, first if len(first) <= 80 else first[:79] + "…", outcome
    return outcome.ok, outcome.summary, outcome.result


__all__ = ["QUICK_TOOLS", "AgentRunner", "ChatController", "RunTool", "SessionFactory", "failure_text"]
