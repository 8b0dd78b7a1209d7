"""The agent loop: streamed chat completions with tool calls, bounded steps, errors as clear outcomes.

``AgentSession.run`` yields ``TextDelta`` while the model writes, ``ToolStarted``/``ToolFinished`` around each
tool call, and ends with exactly one ``AnswerFinished`` or ``AgentFailed`` — unless the consumer is cancelled
(the Stop button): then the HTTP request and running tools are cancelled at once and nothing more is yielded.

Tool call ids are unique within a run. The concatenated ``TextDelta`` texts equal ``AnswerFinished.text``
(text written before a tool step is kept, separated by a blank line). On the last allowed step the tools are
withdrawn (no ``tools`` parameter) and the model is told to answer now, so a model that never stops calling
tools still ends with an answer.

Nothing the model writes runs a command or changes anything: every tool is read-only. A future tool that changes
something must be made with ``mutating=True``; it then runs only after ``approve(name, arguments)`` returns
True (the UI asks the user), and is refused when no ``approve`` callback is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpuwatch_desktop.agent.calls import Approve, Call, Outcome, ToolRunner
from gpuwatch_desktop.agent.client import describe_error
from gpuwatch_desktop.agent.context import DEFAULT_CONTEXT_CHARS, fit_messages, size
from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.events import AgentEvent, AgentFailed, AnswerFinished, ChatMessage, TextDelta
from gpuwatch_desktop.agent.format import known_nodes
from gpuwatch_desktop.agent.toolkit import Tool

if TYPE_CHECKING:  # openai is imported where it is used: importing it costs ~0.6 s of start-up before the first window
    import openai
from gpuwatch_desktop.config.llm import LlmConfig

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are the diagnostic assistant of GPU Watchdog, a desktop app watching a GPU cluster.
Answer the user's questions about the cluster's health with facts from your tools: live GPU metrics per node \
(cluster_status, gpu_metrics, top_gpu_processes), stored history (metric_history), alerts (active_alerts, \
alert_history), Slurm (slurm_status, slurm_jobs) and service logs (service_logs) where those are connected.
The tools are read-only: you cannot run commands or change anything. When something should be changed, tell the \
user what to do and why.
Call tools before answering; call independent tools together in one step; never repeat a call with the same \
arguments. Be concise: lead with the finding, then the evidence (node, GPU, values with units), then what to do. \
Use markdown: short lists, a table when comparing GPUs or nodes. If a tool reports missing data, say so.
Watched nodes: {nodes}. Time now: {now}."""

FORCE_ANSWER = ("(Step limit reached: no more tools are available. Answer now from the results above, and say "
                "what you could not check.)")
EMPTY_ANSWER = ("The model returned an empty answer. Ask again or rephrase; if it keeps happening, check that the "
                "model and its server support tool calling.")


@dataclass(slots=True)
class _Reply:
    """One streamed model response, assembled from its deltas."""

    content: str = ""
    calls: dict[int, dict[str, str]] = field(default_factory=dict)  # index -> id, name, arguments
    started: bool = False  # the server began its answer

    def tool_calls(self, step: int, used: set[str]) -> list[Call]:
        """The calls, each with an id not used before in the run (some servers repeat ids across steps)."""
        calls = []
        for index, c in sorted(self.calls.items()):
            call_id = c["id"] if c["id"] and c["id"] not in used else f"call_{step}_{index}"
            used.add(call_id)
            calls.append(Call(call_id, c["name"], c["arguments"]))
        return calls


class AgentSession:
    """One model + tools + data; ``run`` answers one question of a conversation."""

    def __init__(self, client: openai.AsyncOpenAI, config: LlmConfig, tools: Sequence[Tool], data: ClusterData,
                 *, approve: Approve | None = None, tool_timeout_s: float = 30.0,
                 context_chars: int = DEFAULT_CONTEXT_CHARS) -> None:
        self.client = client
        self.config = config
        self.tools = list(tools)
        self.data = data
        self.approve = approve
        self.tool_timeout_s = tool_timeout_s
        self.context_chars = context_chars
        self._schemas = [t.schema() for t in self.tools]
        self._schemas_chars = size(self._schemas)

    def system_prompt(self) -> str:
        nodes = ", ".join(known_nodes(self.data)) or "none configured"
        return SYSTEM_PROMPT.format(nodes=nodes, now=time.strftime("%Y-%m-%d %H:%M:%S %Z"))

    async def run(self, history: Sequence[ChatMessage], question: str) -> AsyncIterator[AgentEvent]:
        """Answer ``question`` after ``history`` (earlier messages, without a system prompt)."""
        runner = ToolRunner(self.tools, self.data, self.approve, self.tool_timeout_s)
        head: list[ChatMessage] = [{"role": "system", "content": self.system_prompt()}, *history,
                                   {"role": "user", "content": question}]
        new: list[ChatMessage] = []
        written = ""
        used: set[str] = set()
        for step in range(1, self.config.max_steps + 1):
            last = step == self.config.max_steps
            reply = _Reply()
            try:
                async for text in self._stream(head, new, last, reply, separate=bool(written)):
                    written += text
                    yield TextDelta(text)
            except Exception as exc:  # openai.APIError and broken streams alike
                import openai

                if not isinstance(exc, openai.APIError):
                    log.warning("model stream failed", exc_info=True)
                kind, message = describe_error(exc, self.config, streaming=reply.started)
                yield AgentFailed(kind, message, tuple(new))
                return
            calls = [] if last else reply.tool_calls(step, used)
            if calls:
                new.append(_assistant(reply.content, calls))
                outcomes: dict[str, Outcome] = {}
                async for event in runner.run(calls, outcomes):
                    yield event
                new.extend({"role": "tool", "tool_call_id": c.id, "content": outcomes[c.id].result} for c in calls)
                continue
            if not reply.content.strip():
                yield AgentFailed("empty", EMPTY_ANSWER, tuple(new))
                return
            new.append({"role": "assistant", "content": reply.content})
            yield AnswerFinished(written, step, last, tuple(new))
            return

    async def _stream(self, head: list[ChatMessage], new: list[ChatMessage], last: bool, reply: _Reply,
                      separate: bool) -> AsyncIterator[str]:
        """Request one step and yield its text as it streams; tool calls are assembled into ``reply``."""
        messages = [*head, *new, *([{"role": "user", "content": FORCE_ANSWER}] if last else [])]
        tools_chars = 0 if last else self._schemas_chars
        messages = fit_messages(messages, self.context_chars, tools_chars, keep_from=len(head) - 1)
        request: dict[str, Any] = {"model": self.config.model, "messages": messages,
                                   "temperature": self.config.temperature, "stream": True}
        if not last:
            request["tools"] = self._schemas
        # client.post is openai's documented way to send a request as is: chat.completions.create would re-walk
        # every message and tool schema to apply TypedDict aliases our plain JSON does not need (about half
        # of the app's time per step, measured by bench/agent.py). Same client, errors, stream and types.
        from openai import AsyncStream
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        stream = await self.client.post("/chat/completions", body=request, cast_to=ChatCompletion, stream=True,
                                        stream_cls=AsyncStream[ChatCompletionChunk])
        reply.started = True
        try:
            async for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    text = ("\n\n" if separate and not reply.content else "") + delta.content
                    reply.content += delta.content
                    yield text
                for tc in delta.tool_calls or ():
                    _add_call_delta(reply, tc)
        finally:
            await stream.close()


def _add_call_delta(reply: _Reply, tc: Any) -> None:
    index = tc.index if tc.index is not None else len(reply.calls)
    slot = reply.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if tc.id:
        slot["id"] = tc.id
    if tc.function is not None:
        if tc.function.name and not slot["name"]:
            slot["name"] = tc.function.name
        if tc.function.arguments:
            slot["arguments"] += tc.function.arguments


def _assistant(content: str, calls: Sequence[Call]) -> ChatMessage:
    return {"role": "assistant", "content": content or None,
            "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for c in calls]}
