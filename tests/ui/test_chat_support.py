"""Helpers for the chat dock tests (no tests here): the dock and its controller as ``install_chat_dock`` builds
them — the real ``AgentSession`` through the real ``openai`` client against the loopback OpenAI test server, the
API key in an in-memory keyring, conversations in a real history file, tools over a cluster state holding two
recorded 8-GPU nodes — all on a qasync loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_desktop.ui.chat_controller import ChatController
from gpuwatch_desktop.ui.chat_dock import ChatDock
from gpuwatch_desktop.ui.chat_install import AgentSessions, direct_tool_runner
from gpuwatch_desktop.ui.theme import DARK
from tests.integration.test_agent_support import Recorder
from tests.openai_server import OpenAIServer, Reply
from tests.ui.conftest import payload_snapshot, up_status
from tests.unit.test_secrets import MemoryKeyring

SERVICE = "gpuwatch-test"
API_KEY = "sk-test-0123456789"
NODES = ("node-a", "node-b")


def cluster_state() -> ClusterState:
    state = ClusterState()
    state.set_nodes(NODES)
    for node in NODES:
        snapshot = payload_snapshot(node)
        state.publish(up_status(snapshot), snapshot)
    return state


class ChatSide:
    """Dock + controller over ``db``, answering through ``server`` (None: no model set up)."""

    def __init__(self, db: Path, server: OpenAIServer | None, backend: MemoryKeyring) -> None:
        self.db, self.server, self.backend = db, server, backend
        self.config = LlmConfig(base_url=server.base_url, model="test-model", timeout_s=5.0) if server else LlmConfig()
        self.state = cluster_state()
        self.worker = HistoryWorker(lambda: HistoryStore(db))
        self.data = AppClusterData(self.state, self.worker)
        self.recorder = Recorder()  # extra tools: echo, sleep, explode, hang
        tools = [*default_tools(), *self.recorder.tools()]
        self.sessions = AgentSessions(SecretStore(SERVICE, backend), self.data, tools)
        self.dock = ChatDock(DARK)
        self.closed = False
        self.controller = ChatController(self.dock, self.worker, lambda: self.config, self.sessions,
                                         direct_tool_runner(self.data, tools))

    async def open(self) -> None:
        await self.worker.open()
        self.dock.resize(480, 700)
        self.dock.show()
        await self.controller.start()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.controller.aclose()
        await self.worker.close()
        self.dock.hide()  # not close(): closing the last window would quit the application and stop the loop
        self.dock.deleteLater()

    async def ask(self, question: str) -> None:
        """Type ``question``, press Send and wait until the answer ends."""
        self.send(question)
        await until(lambda: not self.dock.running)

    def send(self, question: str) -> None:
        self.dock.input.setPlainText(question)
        self.dock.send_button.click()
        assert self.dock.running

    async def restarted(self) -> ChatSide:
        """Close this one and open a new one on the same file: what the next start of the app shows."""
        await self.close()
        again = ChatSide(self.db, self.server, self.backend)
        await again.open()
        return again


def run(qtbot: QtBot, tmp_path: Path, scenario: Callable[[ChatSide], Coroutine[Any, Any, ChatSide | None]],
        script: list[Reply] | None = None) -> None:
    """Run ``scenario`` on a dock answering from ``script`` (None: no model set up); it may return the side it
    ended with (after a restart) for closing."""
    loop = qasync.QEventLoop(QApplication.instance())
    backend = MemoryKeyring()
    backend.set_password(SERVICE, LLM_API_KEY_SECRET, API_KEY)
    server = OpenAIServer(script) if script is not None else None
    sides: list[ChatSide] = []

    async def main() -> None:
        side = ChatSide(tmp_path / "history.sqlite3", server, backend)
        sides.append(side)
        await side.open()
        last = side
        try:
            last = await scenario(side) or side
        finally:
            await last.close()

    try:
        with loop:
            loop.run_until_complete(main())
    finally:
        if server is not None:
            server.close()
        sides.clear()
        gc.collect()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
