"""Keep a request within the context budget: drop the oldest tool results first, then the oldest turns.

Sizes are counted in characters of the messages' JSON (≈ tokens × 4), tool schemas included.
The conversation itself is never changed: only the copy sent to the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gpuwatch_desktop.agent.events import ChatMessage

DEFAULT_CONTEXT_CHARS = 64_000  # ≈ 16k tokens: fits the smaller local models with room for the answer
DROPPED = "[this tool result was dropped to fit the model's context; call the tool again if you need it]"


def size(item: Any) -> int:
    return len(json.dumps(item, ensure_ascii=False, default=str))


def fit_messages(messages: Sequence[ChatMessage], budget_chars: int, tools_chars: int = 0,
                 keep_from: int | None = None) -> list[ChatMessage]:
    """A copy of ``messages`` within ``budget_chars``.

    ``messages[0]`` is the system prompt and is kept; messages from ``keep_from`` on (the current question and
    what followed it) are kept whole as long as older material can go. Order of sacrifice: tool results older
    than the current question, then whole older turns (a user message and everything up to the next one),
    then the current run's tool results, oldest first. If even that is not enough, the rest is sent as is.
    """
    out = [dict(m) for m in messages]
    keep_from = len(out) if keep_from is None else keep_from
    total = tools_chars + sum(size(m) for m in out)

    def elide(index: int) -> None:
        nonlocal total
        if out[index].get("role") == "tool" and out[index].get("content") != DROPPED:
            before = size(out[index])
            out[index]["content"] = DROPPED
            total += size(out[index]) - before

    for index in range(1, keep_from):
        if total <= budget_chars:
            return out
        elide(index)
    while total > budget_chars and keep_from > 1:
        end = next((i for i in range(2, keep_from) if out[i].get("role") == "user"), keep_from)
        total -= sum(size(m) for m in out[1:end])
        del out[1:end]
        keep_from -= end - 1
    for index in range(keep_from, len(out) - 1):
        if total <= budget_chars:
            break
        elide(index)
    return out
