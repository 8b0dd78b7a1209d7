"""What an agent run reports, in order, to whoever shows it (the chat dock, ``gpuwatch ask``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# A chat message in the OpenAI chat-completions format: {"role": ..., "content": ..., "tool_calls": [...],
# "tool_call_id": ...}. Conversations are stored and replayed as lists of these.
ChatMessage = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as the model streams it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolStarted:
    call_id: str
    name: str
    arguments: str  # the raw JSON text the model sent (may be invalid)


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_id: str
    name: str
    ok: bool
    summary: str  # one line for the collapsed step, e.g. "8 GPUs on 2 nodes" or the error
    result: str  # what went back to the model (already truncated to the budget)
    duration_ms: float
    cached: bool = False  # an identical earlier call in this run answered it


@dataclass(frozen=True, slots=True)
class AnswerFinished:
    text: str  # the whole answer (markdown)
    steps: int  # model calls made
    forced: bool  # the step limit was reached and tools were withdrawn for a final answer
    messages: tuple[ChatMessage, ...]  # the conversation's new messages (assistant, tool) to save


FailureKind = Literal["server", "timeout", "context_length", "cancelled", "config", "empty"]


@dataclass(frozen=True, slots=True)
class AgentFailed:
    kind: FailureKind
    message: str  # for the user: what failed and what to do
    messages: tuple[ChatMessage, ...] = ()  # messages produced before the failure (kept in the conversation)


AgentEvent = TextDelta | ToolStarted | ToolFinished | AnswerFinished | AgentFailed
