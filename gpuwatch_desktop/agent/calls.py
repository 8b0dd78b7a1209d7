"""Running the model's tool calls: concurrently, each with its own timeout, identical calls answered once.

Every failure (unknown tool, invalid JSON, wrong argument types, a tool's error, a timeout) becomes a tool
result that starts with ``Error:`` and says what to do, so the model can correct itself and the run goes on.
A tool marked ``mutating`` runs only when the ``approve`` callback says yes; without one it is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gpuwatch_desktop.agent.budget import fit
from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.events import ToolFinished, ToolStarted
from gpuwatch_desktop.agent.toolkit import Tool, ToolError
from gpuwatch_desktop.core.errors import GpuwatchError

log = logging.getLogger(__name__)

# Asked before a tool that changes something runs: (tool name, arguments) -> the user's yes or no.
Approve = Callable[[str, dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    name: str
    arguments: str  # raw JSON text from the model


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    summary: str
    result: str  # what goes back to the model


def _error(summary: str, text: str) -> Outcome:
    return Outcome(False, summary, f"Error: {text}")


def parse_arguments(raw: str) -> dict[str, Any]:
    """The model's argument text as a dict ('' counts as no arguments); ToolError when it is not a JSON object."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ToolError(f"the arguments are not valid JSON ({exc}): {raw[:200]!r}. "
                        "Call the tool again with a JSON object matching its parameters.") from None
    if not isinstance(value, dict):
        raise ToolError(f"the arguments must be a JSON object, got {raw[:200]!r}")
    return value


class ToolRunner:
    """Runs calls for one agent run; remembers outcomes so a repeated identical call is not run again."""

    def __init__(self, tools: Sequence[Tool], data: ClusterData, approve: Approve | None = None,
                 timeout_s: float = 30.0) -> None:
        self.tools = {t.name: t for t in tools}
        self.data = data
        self.approve = approve
        self.timeout_s = timeout_s
        self._done: dict[str, Outcome] = {}

    def key(self, call: Call) -> str:
        try:
            canonical = json.dumps(parse_arguments(call.arguments), sort_keys=True, default=str)
        except ToolError:
            canonical = call.arguments
        return f"{call.name}\n{canonical}"

    async def run(self, calls: Sequence[Call], outcomes: dict[str, Outcome]
                  ) -> AsyncIterator[ToolStarted | ToolFinished]:
        """Start every call at once; report each as it finishes; fill ``outcomes`` (call id -> outcome)."""
        for call in calls:
            yield ToolStarted(call.id, call.name, call.arguments)
        leaders: dict[str, Call] = {}
        followers: dict[str, list[Call]] = {}
        for call in calls:
            key = self.key(call)
            if key in self._done:
                outcomes[call.id] = self._done[key]
                yield self._finished(call, self._done[key], 0.0, cached=True)
            elif key in leaders:
                followers[key].append(call)
            else:
                leaders[key], followers[key] = call, []
        started = time.perf_counter()
        tasks = {asyncio.ensure_future(self.one(call)): key for key, call in leaders.items()}
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    key, outcome = tasks[task], task.result()
                    self._done[key] = outcome
                    ms = (time.perf_counter() - started) * 1000
                    for index, call in enumerate([leaders[key], *followers[key]]):
                        outcomes[call.id] = outcome
                        yield self._finished(call, outcome, ms if index == 0 else 0.0, cached=index > 0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _finished(call: Call, outcome: Outcome, ms: float, cached: bool) -> ToolFinished:
        return ToolFinished(call.id, call.name, outcome.ok, outcome.summary, outcome.result, ms, cached)

    async def one(self, call: Call) -> Outcome:
        """One call, every failure turned into an error outcome for the model."""
        tool = self.tools.get(call.name)
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return _error(f"unknown tool {call.name}", f"there is no tool named {call.name!r}. Tools: {names}.")
        try:
            arguments = tool.bind(parse_arguments(call.arguments))
            refusal = await self._refusal(tool, arguments)
            if refusal is not None:
                return refusal
            async with asyncio.timeout(self.timeout_s):
                answer = await tool.fn(self.data, **arguments)
        except (ToolError, GpuwatchError) as exc:  # the tool's own message, or the database's
            return _error(str(exc)[:120], f"{call.name}: {exc}")
        except TimeoutError:
            return _error("timed out", f"{call.name} did not finish within {self.timeout_s:g} s; "
                          "try a narrower question (one node, a shorter range)")
        except Exception as exc:  # a tool's own bug must not end the conversation
            log.warning("tool %s failed", call.name, exc_info=True)
            return _error(f"failed: {type(exc).__name__}", f"{call.name} failed: {type(exc).__name__}: {exc}")
        text, cut = fit(answer.value, tool.budget_chars, tool.keep_tail)
        return Outcome(True, answer.summary + (" (truncated)" if cut else ""), text)

    async def _refusal(self, tool: Tool, arguments: dict[str, Any]) -> Outcome | None:
        """None when the tool may run: it changes nothing, or the user approved this call."""
        if not tool.mutating:
            return None
        if self.approve is None:
            return _error("refused: needs approval", f"{tool.name} changes the cluster and needs the user's "
                          "approval, which cannot be asked here. Tell the user what you would do instead.")
        if not await self.approve(tool.name, arguments):
            return _error("declined by the user", f"the user declined {tool.name}; do not retry it.")
        return None
