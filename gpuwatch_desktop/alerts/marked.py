"""YAML and JSON parsed into plain values whose mappings remember the line of each key.

Rule files are written by hand, so an error must name its line: ``Marked`` is a dict with the
1-based ``line`` where the mapping starts and ``lines[key]`` where each key is. Duplicate keys
are an error here (YAML and JSON parsers silently keep the last one).
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from typing import Any

import yaml

from gpuwatch_desktop.core.errors import GpuwatchError


class RulesFileError(GpuwatchError):
    """A rule file could not be read; names the 1-based line (0: the file as a whole) and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line > 0 else reason)


class Marked(dict[Any, Any]):
    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}

    def put(self, key: Any, value: Any, line: int) -> None:
        try:
            duplicate = key in self
        except TypeError:
            raise RulesFileError(line, f"a key must be a plain value, not {type(key).__name__}") from None
        if duplicate:
            raise RulesFileError(line, f"{key!r} appears twice")
        self[key] = value
        self.lines[key] = line


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Marked:
    loader.flatten_mapping(node)
    out = Marked(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out.put(key, loader.construct_object(value_node, deep=True), key_node.start_mark.line + 1)
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise RulesFileError(mark.line + 1 if mark else 0, f"not valid YAML: {reason}") from None
    except yaml.YAMLError as exc:
        raise RulesFileError(0, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise RulesFileError(0, "not valid here: the YAML refers to itself (recursive anchors)") from None


_py_make_scanner: Any = getattr(json.scanner, "py_make_scanner")  # noqa: B009 - not in the type stubs
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]')


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


class _LineDecoder(json.JSONDecoder):
    """The standard decoder with objects built as ``Marked`` (uses the pure-Python scanner to hook objects)."""

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=list)
        self.parse_object = self._parse_object
        self.scan_once = _py_make_scanner(self)

    def _parse_object(self, s_and_end: tuple[str, int], *args: Any) -> tuple[Marked, int]:
        text, start = s_and_end
        pairs, end = json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
        out = Marked(_line_at(text, start - 1))
        key_lines = _key_lines(text, start, end)
        for (key, value), line in zip(pairs, key_lines, strict=True):
            out.put(key, value, line)
        return out, end


def _key_lines(text: str, start: int, end: int) -> list[int]:
    """Lines of the keys of the object whose body is text[start:end], in order."""
    lines, depth = [], 0
    for match in _TOKEN.finditer(text, start, end):
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 0 and text[match.end():end].lstrip().startswith(":"):
            lines.append(_line_at(text, match.start()))
    return lines


def parse_json(text: str) -> Any:
    try:
        return _LineDecoder().decode(text)
    except json.JSONDecodeError as exc:
        raise RulesFileError(exc.lineno, f"not valid JSON: {exc.msg}") from None
