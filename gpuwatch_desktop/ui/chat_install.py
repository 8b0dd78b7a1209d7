"""Puts the assistant dock into the main window: ``install_chat_dock`` builds the dock, its controller, the agent
sessions (model settings + API key from the keyring) and the direct tool runs used when no model is set up.
The app does it in two steps: ``chat_dock.dock_chat`` before the window's first frame, ``connect_chat_dock`` after.

Wiring in ``ui/app.py``::

    from gpuwatch_desktop.services.agent_data import AppClusterData
    from gpuwatch_desktop.ui.chat_controller import ChatController
    from gpuwatch_desktop.ui.chat_dock import dock_chat
    from gpuwatch_desktop.ui.chat_install import connect_chat_dock

    # AppController.__init__, beside self.window:
    self.chat: ChatController | None = None

    # _show_window(), before self.window.restore_layout() (the layout restores the dock's place):
    self.chat_dock = dock_chat(window, theme_named(self.settings.theme))

    # _fill_window(), after the first frame:
    self.chat = connect_chat_dock(dock, self.history, lambda: self.settings.llm, self.secrets,
                                  AppClusterData(self.state, self.history, self.alerts), parent=self)

    # start(), right after self._fill_window():
    if self.chat is not None:
        await self.chat.start()

    # _apply_settings(), before await self._apply_nodes():
    if self.chat is not None:
        self.chat.settings_changed()

    # shutdown(), after await self.settings_ui.aclose() (before the history database closes):
    if self.chat is not None:
        await self.chat.aclose()
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from gpuwatch_desktop.agent.calls import Approve, Call, Outcome, ToolRunner
from gpuwatch_desktop.agent.client import make_client
from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.loop import AgentSession
from gpuwatch_desktop.agent.toolkit import Tool
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.ui.chat_controller import ChatController, RunTool
from gpuwatch_desktop.ui.chat_dock import ChatDock, dock_chat
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.theme import Theme

if TYPE_CHECKING:  # openai is imported where it is used: importing it costs ~0.6 s of start-up before the first window
    import openai


class AgentSessions:
    """Builds the ``AgentSession`` for each question with the settings of the moment; keeps one client while the
    server, timeout and key stay the same. Reads the key from the keyring in a worker thread; no usable keyring
    means no key (local servers need none)."""

    def __init__(self, secrets: SecretStore, data: ClusterData, tools: Sequence[Tool] | None = None,
                 approve: Approve | None = None) -> None:
        self._secrets = secrets
        self._data = data
        self._tools = list(default_tools() if tools is None else tools)
        self._approve = approve
        self._client: openai.AsyncOpenAI | None = None
        self._signature: tuple[str, float, str | None] | None = None

    async def __call__(self, config: LlmConfig) -> AgentSession:
        """Raises ConfigError (not configured) or SecretStoreError (the keyring refused)."""
        key = await asyncio.to_thread(self._read_key)
        signature = (config.base_url, config.timeout_s, key)
        if self._client is None or signature != self._signature:
            await self.aclose()
            self._client, self._signature = make_client(config, key), signature
        return AgentSession(self._client, config, self._tools, self._data, approve=self._approve)

    def _read_key(self) -> str | None:
        ok, _reason = self._secrets.available()
        return self._secrets.get(LLM_API_KEY_SECRET) if ok else None

    async def aclose(self) -> None:
        client, self._client, self._signature = self._client, None, None
        if client is not None:
            await client.close()


def direct_tool_runner(data: ClusterData, tools: Sequence[Tool] | None = None) -> RunTool:
    """Runs one tool by name without a model (quick prompts while no model is set up), as the agent would."""
    runner = ToolRunner(list(default_tools() if tools is None else tools), data)

    async def run_tool(name: str, arguments: dict[str, Any]) -> Outcome:
        return await runner.one(Call(f"direct_{name}", name, json.dumps(arguments)))

    return run_tool


def install_chat_dock(window: MainWindow, history: HistoryWorker | None, llm_config: Callable[[], LlmConfig],
                      secrets: SecretStore, data: ClusterData, theme: Theme,
                      parent: QObject | None = None) -> ChatController:
    """The dock (``chat_dock.dock_chat``: on the window's right, View → Assistant) and its controller; call
    ``await controller.start()`` next."""
    return connect_chat_dock(dock_chat(window, theme), history, llm_config, secrets, data, parent)


def connect_chat_dock(dock: ChatDock, history: HistoryWorker | None, llm_config: Callable[[], LlmConfig],
                      secrets: SecretStore, data: ClusterData, parent: QObject | None = None) -> ChatController:
    """The controller of a dock already in the window; call ``await controller.start()`` next."""
    sessions = AgentSessions(secrets, data)
    return ChatController(dock, history, llm_config, sessions, direct_tool_runner(data), parent=parent)
