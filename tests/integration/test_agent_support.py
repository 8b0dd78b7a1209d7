"""Helpers for the agent tests: run an AgentSession against the loopback OpenAI test server, test tools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from gpuwatch_desktop.agent.calls import Approve
from gpuwatch_desktop.agent.client import make_client
from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.events import AgentEvent, ChatMessage, ToolFinished
from gpuwatch_desktop.agent.loop import AgentSession
from gpuwatch_desktop.agent.toolkit import Answer, Tool, make_tool
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.config.llm import LlmConfig
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.state import ClusterState
from tests.openai_server import OpenAIServer


def config_for(server: OpenAIServer | str, max_steps: int = 10, timeout_s: float = 5.0) -> LlmConfig:
    """Settings for the test server (or any base URL)."""
    url = server if isinstance(server, str) else server.base_url
    return LlmConfig(base_url=url, model="test-model", timeout_s=timeout_s, max_steps=max_steps)


def session_for(server: OpenAIServer | str, tools: Sequence[Tool] | None = None, data: ClusterData | None = None,
                max_steps: int = 10, timeout_s: float = 5.0, approve: Approve | None = None,
                **options: Any) -> AgentSession:
    config = config_for(server, max_steps, timeout_s)
    return AgentSession(make_client(config, "test-key"), config, default_tools() if tools is None else tools,
                        data or AppClusterData(ClusterState()), approve=approve, **options)


async def collect(session: AgentSession, question: str = "What's wrong with the cluster?",
                  history: Sequence[ChatMessage] = ()) -> list[AgentEvent]:
    try:
        return [event async for event in session.run(history, question)]
    finally:
        await session.client.close()


def run_agent(server: OpenAIServer | str, question: str = "What's wrong with the cluster?",
              history: Sequence[ChatMessage] = (), **kwargs: Any) -> list[AgentEvent]:
    return asyncio.run(collect(session_for(server, **kwargs), question, history))


def only[E](events: Sequence[object], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def finished(events: Sequence[object]) -> list[ToolFinished]:
    return only(events, ToolFinished)


class Recorder:
    """Test tools that note each run: a counting echo, a sleeper (start/end times), one that raises, a hang,
    and one that would change something (mutating)."""

    def __init__(self) -> None:
        self.echoes: list[dict[str, Any]] = []
        self.spans: list[tuple[float, float]] = []
        self.hang_cancelled_at: float | None = None
        self.changes: list[str] = []

    def tools(self) -> list[Tool]:
        plain = [make_tool(fn, 4000) for fn in (self.echo, self.sleep, self.explode, self.hang)]
        return [*plain, make_tool(self.restart_node, 4000, mutating=True)]

    async def echo(self, data: ClusterData, word: str, times: int = 1) -> Answer:
        """Repeat a word.

        Args:
            word: what to repeat
            times: how many times
        """
        self.echoes.append({"word": word, "times": times})
        return Answer(f"echoed {word}", {"echo": [word] * times})

    async def sleep(self, data: ClusterData, seconds: float) -> Answer:
        """Wait, then report.

        Args:
            seconds: how long to wait
        """
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        self.spans.append((start, time.perf_counter()))
        return Answer("slept", f"slept {seconds} s")

    async def explode(self, data: ClusterData) -> Answer:
        """Always fails."""
        raise RuntimeError("disk on fire")

    async def hang(self, data: ClusterData) -> Answer:
        """Never finishes."""
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.hang_cancelled_at = time.perf_counter()
            raise
        return Answer("woke", "woke")

    async def restart_node(self, data: ClusterData, node: str) -> Answer:
        """Restart a node (changes something).

        Args:
            node: which node
        """
        self.changes.append(node)
        return Answer("restarted", f"restarted {node}")
