"""Tools as plain async functions: the OpenAI JSON schema is derived from the signature and the docstring.

A tool function takes ``data`` (the ``ClusterData``) first, then typed parameters documented under ``Args:``.
Types understood: str, int, float, bool, ``Literal[...]``, an ``Enum``, ``X | None`` (optional) and ``Metric``
(a key of the metric registry: the schema lists every key with its label and unit).
It returns ``Answer(summary, value)``: a one-line summary for the chat's tool step, and the value for the model.
"""

from __future__ import annotations

import enum
import inspect
import math
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple, Union

from gpuwatch_desktop.core.metrics import GPU_METRICS


class MetricParam:
    """Marker: this string parameter is a metric key of the registry."""


Metric = Annotated[str, MetricParam()]


class Answer(NamedTuple):
    summary: str  # one line for the collapsed tool step
    value: Any  # str (sent as is) or JSON-able data (sent as compact JSON)


class ToolError(Exception):
    """A tool cannot answer (unknown node, no such GPU...): the message goes back to the model."""


class ArgumentError(ToolError):
    """The model's arguments do not fit the tool's schema."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Any  # the parameter's type without ``| None``
    required: bool
    default: Any
    schema: dict[str, Any]


ToolFn = Callable[..., Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    fn: ToolFn
    description: str
    params: tuple[Param, ...]
    budget_chars: int  # the output sent to the model is cut to this many characters (≈ tokens × 4)
    mutating: bool = False  # changes something: runs only after the user approves (see AgentSession.approve)
    keep_tail: bool = False  # text cut to the budget keeps its end (logs), not its start

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        properties = {p.name: p.schema for p in self.params}
        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        required = [p.name for p in self.params if p.required]
        if required:
            parameters["required"] = required
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": parameters}}

    def bind(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and convert the model's arguments; ArgumentError saying what is wrong."""
        known = {p.name for p in self.params}
        unexpected = sorted(set(arguments) - known)
        if unexpected:
            takes = ", ".join(sorted(known)) or "no arguments"
            raise ArgumentError(f"unexpected argument(s) {', '.join(unexpected)}; {self.name} takes: {takes}")
        bound: dict[str, Any] = {}
        for p in self.params:
            if p.name not in arguments or (arguments[p.name] is None and not p.required):
                if p.required:
                    raise ArgumentError(f"missing required argument {p.name!r}")
                bound[p.name] = p.default
                continue
            bound[p.name] = _convert(p, arguments[p.name])
        return bound


def make_tool(fn: ToolFn, budget_chars: int, mutating: bool = False, keep_tail: bool = False) -> Tool:
    """A ``Tool`` from a documented, typed async function whose first parameter is ``data``."""
    description, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    hints = typing.get_type_hints(fn, include_extras=True)
    params = []
    for name, parameter in list(inspect.signature(fn).parameters.items())[1:]:
        if name not in arg_docs:
            raise TypeError(f"{fn.__name__}: parameter {name!r} is not documented under Args:")
        kind, optional = _unwrap_optional(hints[name])
        required = parameter.default is inspect.Parameter.empty
        if optional and required:
            raise TypeError(f"{fn.__name__}: optional parameter {name!r} needs a default")
        schema = {**_type_schema(kind), "description": arg_docs[name]}
        if _is_metric(kind):
            schema["description"] = schema["description"].rstrip(".") + ". One of: " + "; ".join(
                f"{m.key} ({m.label}{', ' + m.unit if m.unit else ''})" for m in GPU_METRICS)
        if not required and parameter.default is not None:
            schema["default"] = parameter.default.value if isinstance(parameter.default, enum.Enum) \
                else parameter.default
        params.append(Param(name, kind, required, None if required else parameter.default, schema))
    return Tool(fn.__name__, fn, description, tuple(params), budget_chars, mutating, keep_tail)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    head, _, args = doc.partition("\nArgs:\n")
    description = " ".join(head.split())
    docs: dict[str, str] = {}
    current = ""
    for line in args.splitlines():
        match = re.match(r"\s+(\w+):\s*(.*)", line)
        if match and (len(line) - len(line.lstrip())) <= 4:
            current = match[1]
            docs[current] = match[2].strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return description, docs


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return members[0], True
        raise TypeError(f"unsupported union {hint}")
    return hint, False


def _is_metric(kind: Any) -> bool:
    return typing.get_origin(kind) is Annotated and any(isinstance(m, MetricParam) for m in kind.__metadata__)


_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_schema(kind: Any) -> dict[str, Any]:
    if _is_metric(kind):
        return {"type": "string", "enum": [m.key for m in GPU_METRICS]}
    if typing.get_origin(kind) is Literal:
        values = list(typing.get_args(kind))
        return {"type": _JSON_TYPES[type(values[0])], "enum": values}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "string", "enum": [e.value for e in kind]}
    if kind in _JSON_TYPES:
        return {"type": _JSON_TYPES[kind]}
    raise TypeError(f"unsupported parameter type {kind!r}")


def _convert(p: Param, value: Any) -> Any:
    """The value as the parameter's type, accepting what models commonly send ("3" for 3, 2.0 for 2)."""
    enum_values = p.schema.get("enum")
    kind = str if _is_metric(p.kind) else p.kind
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            raise ArgumentError(f"{p.name} must be one of {enum_values}, got {value!r}") from None
    if typing.get_origin(kind) is Literal:
        kind = type(typing.get_args(kind)[0])
    converted = _scalar(p.name, kind, value)
    if enum_values is not None and converted not in enum_values:
        raise ArgumentError(f"{p.name} must be one of {enum_values}, got {value!r}")
    return converted


def _scalar(name: str, kind: type, value: Any) -> Any:
    wrong = ArgumentError(f"{name} must be {_JSON_TYPES.get(kind, kind.__name__)}, got {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise wrong
    if isinstance(value, bool):
        raise wrong
    if kind is int:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise wrong
    if kind is float:
        try:
            number = float(value) if isinstance(value, int | float | str) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise wrong
        return number
    if not isinstance(value, str):
        raise wrong
    return value
