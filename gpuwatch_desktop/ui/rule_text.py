"""The rule editor's text fields read into rule values: durations, numbers, label matchers and labels.

Each parser raises ValueError with a message meant to be shown next to the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from gpuwatch_desktop.alerts.rules_file import (
    RulesFileError,
    format_duration,
    format_matcher,
    parse_duration,
    parse_matcher,
)
from gpuwatch_desktop.core.alerts import LabelMatcher

_LABEL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
# A comma-separated item: anything but commas, or a double-quoted string (which may hold commas).
_ITEM = re.compile(r'(?:[^,"]|"(?:\\.|[^"\\])*")+')


def read_duration(text: str, blank: float | None = 0.0) -> float:
    """Seconds from "30s", "5m", "1h30m" or a plain number of seconds; ``blank`` for an empty field."""
    text = text.strip()
    if not text:
        if blank is None:
            raise ValueError("enter a duration like 30s, 5m or 1h")
        return blank
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 5m, 1h30m")
    try:
        return parse_duration(text)
    except RulesFileError:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 5m, 1h30m") from None


def show_duration(seconds: float) -> str:
    """"1h30m", "45s"; a fraction of a second as the plain number of seconds."""
    text = format_duration(seconds)
    return text if isinstance(text, str) else f"{text:g}"


def read_optional_number(text: str) -> float | None:
    return read_number(text) if text.strip() else None


def read_number(text: str) -> float:
    text = text.strip()
    if not text:
        raise ValueError("enter a number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def show_number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _items(text: str) -> list[str]:
    items = [m.group(0).strip() for m in _ITEM.finditer(text)]
    leftover = _ITEM.sub("", text).replace(",", "").strip()
    if leftover:
        raise ValueError("a quoted value is not closed")
    return [i for i in items if i]


def read_matchers(text: str) -> tuple[LabelMatcher, ...]:
    """'model=~H100.*, hostname!="x"' -> matchers; ValueError names the bad one."""
    matchers = []
    for item in _items(text):
        matcher = parse_matcher(item)
        if matcher.op.value in ("=~", "!~"):
            try:
                re.compile(matcher.value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {matcher.value!r}: {exc}") from None
        matchers.append(matcher)
    return tuple(matchers)


def show_matchers(matchers: tuple[LabelMatcher, ...]) -> str:
    return ", ".join(format_matcher(m) for m in matchers)


def read_labels(text: str) -> tuple[tuple[str, str], ...]:
    """'team=ml, pager=yes' -> (("team", "ml"), ("pager", "yes")); ValueError for a malformed or repeated one."""
    labels: list[tuple[str, str]] = []
    for item in (part for part in text.split(",") if part.strip()):
        found = _LABEL.fullmatch(item)
        if found is None:
            raise ValueError(f"{item.strip()!r} is not a label like team=ml")
        name, value = found.groups()
        if any(name == seen for seen, _ in labels):
            raise ValueError(f"label {name!r} appears twice")
        labels.append((name, value))
    return tuple(labels)


def show_labels(labels: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name}={value}" for name, value in labels)


def new_rule_id(name: str, taken: Collection[str]) -> str:
    """A readable id from the name ("GPU too hot" -> "gpu-too-hot"), made unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "rule"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate
