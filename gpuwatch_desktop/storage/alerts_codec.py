"""AlertRule <-> plain JSON-ready dicts: enums by value, scope nested, labels as a list of pairs.

Used for the ``alert_rule.definition`` column and usable for rule files (import/export).
Reading ignores keys it does not know (written by a newer version) and takes the
dataclass default for missing ones; a value of the wrong type or an unknown enum value is a
``ValueError`` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from enum import Enum
from typing import Any

from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertRule,
    Comparator,
    LabelMatcher,
    MatchOp,
    MissingPolicy,
    RuleKind,
    Scope,
    Severity,
)

_ENUMS: dict[str, type[Enum]] = {
    "kind": RuleKind, "aggregation": Aggregation, "comparator": Comparator, "severity": Severity,
    "no_data": MissingPolicy, "on_error": MissingPolicy,
}
_NUMBERS = ("window_s", "threshold", "for_s", "keep_firing_s")
_TEXTS = ("id", "name", "metric", "description")
_FIELDS = tuple(f.name for f in fields(AlertRule))


def rule_to_dict(rule: AlertRule) -> dict[str, Any]:
    """Every field of ``rule`` as JSON types."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(rule, name)
        if isinstance(value, Enum):
            value = value.value
        elif name == "scope":
            value = {
                "node": value.node, "gpu": value.gpu,
                "matchers": [{"name": m.name, "op": m.op.value, "value": m.value} for m in value.matchers],
            }
        elif name == "labels":
            value = [[k, v] for k, v in value]
        out[name] = value
    return out


def rule_to_json(rule: AlertRule) -> str:
    return json.dumps(rule_to_dict(rule), separators=(",", ":"))


def rule_from_json(text: str) -> AlertRule:
    """Raises ValueError (json.JSONDecodeError included) for text that is not a rule."""
    return rule_from_dict(json.loads(text))


def rule_from_dict(data: object) -> AlertRule:
    """The rule ``data`` describes; ValueError names the first bad field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a rule must be an object, got {type(data).__name__}")
    for required in ("id", "name"):
        if required not in data:
            raise ValueError(f"a rule needs {required!r}")
    args: dict[str, Any] = {name: _field(name, data[name]) for name in _FIELDS if name in data}
    return AlertRule(**args)


def _field(name: str, value: object) -> object:
    if name in _ENUMS:
        return _enum(name, _ENUMS[name], value)
    if name in _NUMBERS or (name == "clear_threshold" and value is not None):
        return _number(name, value)
    if name in _TEXTS:
        return _text(name, value)
    if name == "enabled":
        if not isinstance(value, bool):
            raise ValueError(f"enabled: expected true or false, got {value!r}")
        return value
    if name == "labels":
        return _labels(value)
    if name == "scope":
        return _scope(value)
    return value  # clear_threshold = None


def _enum[E: Enum](name: str, cls: type[E], value: object) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name}: unknown value {value!r}; one of {allowed}") from None


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {value!r}")
    return value


def _labels(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"labels: expected a list of [name, value] pairs, got {value!r}")
    pairs = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ValueError(f"labels: expected a [name, value] pair of texts, got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _scope(value: object) -> Scope:
    if not isinstance(value, Mapping):
        raise ValueError(f"scope: expected an object, got {value!r}")
    node, gpu, matchers = value.get("node"), value.get("gpu"), value.get("matchers", [])
    if node is not None and not isinstance(node, str):
        raise ValueError(f"scope.node: expected text or null, got {node!r}")
    if gpu is not None and (isinstance(gpu, bool) or not isinstance(gpu, int)):
        raise ValueError(f"scope.gpu: expected a GPU index or null, got {gpu!r}")
    if not isinstance(matchers, list | tuple):
        raise ValueError(f"scope.matchers: expected a list, got {matchers!r}")
    return Scope(node, gpu, tuple(_matcher(m) for m in matchers))


def _matcher(value: object) -> LabelMatcher:
    if not isinstance(value, Mapping):
        raise ValueError(f"scope.matchers: expected an object, got {value!r}")
    name, val = (_text(f"scope.matchers.{k}", value.get(k)) for k in ("name", "value"))
    return LabelMatcher(name, _enum("scope.matchers.op", MatchOp, value.get("op")), val)
