"""Fit a tool's output into its budget of characters (≈ tokens × 4), saying what was left out.

JSON data loses items from its biggest lists first, each cut list ending with the marker
``"… truncated (N more items)"``, so what remains is still valid JSON. Text keeps its head
(or its tail, for logs) and says how many lines were left out.
"""

from __future__ import annotations

import json
import re
from typing import Any

CHARS_PER_TOKEN = 4
_MAX_LIST_CUTS = 8


def dump(value: Any) -> str:
    """Compact JSON (no spaces, UTF-8 kept, floats as Python writes them)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def marker(more: int, what: str = "items") -> str:
    return f"… truncated ({more} more {what})"


def fit(value: Any, budget_chars: int, keep_tail: bool = False) -> tuple[str, bool]:
    """The value as text within ``budget_chars``; the bool says whether anything was left out."""
    if isinstance(value, str):
        return fit_text(value, budget_chars, keep_tail)
    text = dump(value)
    if len(text) <= budget_chars:
        return text, False
    value = _copy(value)
    for _ in range(_MAX_LIST_CUTS):
        lists = _lists(value)
        if not lists:
            break
        items = max(lists, key=lambda lst: len(dump(lst)))
        _shrink(value, items, budget_chars)
        text = dump(value)
        if len(text) <= budget_chars:
            return text, True
    return _cut(text, budget_chars), True


def fit_text(text: str, budget_chars: int, keep_tail: bool = False) -> tuple[str, bool]:
    if len(text) <= budget_chars:
        return text, False
    lines = text.splitlines()
    kept: list[str] = []
    size = 40  # room for the marker line
    for line in reversed(lines) if keep_tail else lines:
        if size + len(line) + 1 > budget_chars:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:
        return _cut(text, budget_chars), True
    note = marker(len(lines) - len(kept), "earlier lines" if keep_tail else "more lines")
    return ("\n".join([note, *reversed(kept)]) if keep_tail else "\n".join([*kept, note])), True


def _cut(text: str, budget_chars: int) -> str:
    room = max(0, budget_chars - 48)
    return text[:room] + marker(len(text) - room, "characters")


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def _lists(value: Any, depth: int = 0) -> list[list[Any]]:
    """Lists that can still lose items (more than one real item), outermost first, three levels deep."""
    found: list[list[Any]] = []
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    if isinstance(value, list) and _real_items(value) > 1:
        found.append(value)
    if depth < 3:
        for child in children:
            found.extend(_lists(child, depth + 1))
    return found


def _real_items(items: list[Any]) -> int:
    last = items[-1] if items else None
    marked = isinstance(last, str) and last.startswith("… truncated (")
    return len(items) - 1 if marked else len(items)


def _shrink(root: Any, items: list[Any], budget_chars: int) -> None:
    """Keep the most items of ``items`` (in place) that let ``root`` fit; at least one."""
    real = _real_items(items)
    earlier = re.search(r"\((\d+) more", items[-1]) if real < len(items) else None
    dropped_before = int(earlier[1]) if earlier else 0
    original = items[:real]
    low, high = 1, real - 1
    best = 1
    while low <= high:
        middle = (low + high) // 2
        items[:] = [*original[:middle], marker(real - middle + dropped_before)]
        if len(dump(root)) <= budget_chars:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    items[:] = [*original[:best], marker(real - best + dropped_before)]
