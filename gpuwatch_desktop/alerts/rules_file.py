"""Import and export alert rules as YAML or JSON (chosen by the file's extension), and the default rule set.

The schema, in YAML (JSON has the same structure); every field but ``name`` may be left out::

    rules:
      - id: gpu-too-hot          # default: made from the name
        name: GPU too hot
        kind: threshold          # threshold | node_down | xid | idle
        metric: gpu_temp         # a metric key (core.metrics), threshold rules only
        aggregation: last        # last | mean | max | min | rate
        window: 1m               # durations: 250ms, 30s, 5m, 1h30m, 2d, 1w, or a number of seconds
        comparator: ">"          # > >= < <= == != (or gt ge lt le eq ne); quote it in YAML
        threshold: 85
        clear_threshold: 80      # hysteresis; null for none
        for: 45s
        keep_firing: 0s
        severity: critical       # info | warning | critical
        labels: {team: infra}
        description: "GPU {gpu} on {node}: {value} {unit}"
        no_data: state           # state | alerting | ok | keep_last
        on_error: keep_last
        enabled: true
        scope: {node: node-1, gpu: 0, match: ['model=~"H100.*"']}

Loading is all or nothing: the first problem raises ``RulesFileError`` naming its line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from gpuwatch_desktop.alerts.marked import Marked, RulesFileError, parse_json, parse_yaml
from gpuwatch_desktop.config.paths import resources_dir
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
    validate_rule,
)

__all__ = ["RulesFileError", "default_rules", "default_rules_path", "dump_rules", "format_for", "load_rules",
           "load_rules_file", "save_rules_file"]

_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400),
          "w": Decimal(604800)}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_COMPARATOR_WORDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}


def _fail(line: int, key: str, reason: str) -> RulesFileError:
    return RulesFileError(line, f"{key}: {reason}")


def parse_duration(value: object, key: str = "duration", line: int = 0) -> float:
    """Seconds from "1h30m", "45s", "250ms", ... or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value >= 0:
            return float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip()):
        return float(sum(Decimal(n) * _UNITS[u] for n, u in _PART.findall(value)))
    raise _fail(line, key, f"{value!r} is not a duration; write e.g. 30s, 5m, 1h30m or a number of seconds")


def format_duration(seconds: float) -> str | float:
    """Whole seconds as "1h30m", "45s", "0s"; anything else as the plain number (exact either way)."""
    if not seconds.is_integer():
        return seconds
    whole, parts = int(seconds), []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _text(value: object, key: str, line: int) -> str:
    if not isinstance(value, str):
        raise _fail(line, key, f"expected text, got {value!r}")
    return value


def _number(value: object, key: str, line: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(line, key, f"expected a finite number, got {value!r}")
    return float(value)


def _optional_number(value: object, key: str, line: int) -> float | None:
    return None if value is None else _number(value, key, line)


def _flag(value: object, key: str, line: int) -> bool:
    if not isinstance(value, bool):
        raise _fail(line, key, f"expected true or false, got {value!r}")
    return value


def _choice(kind: type[Enum], aliases: dict[str, str] | None = None) -> Callable[[object, str, int], Any]:
    def convert(value: object, key: str, line: int) -> Any:
        text = (aliases or {}).get(value, value) if isinstance(value, str) else value
        for member in kind:
            if member.value == text:
                return member
        known = ", ".join(str(m.value) for m in kind)
        raise _fail(line, key, f"{value!r} is not one of {known}")
    return convert


def _labels(value: object, key: str, line: int) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _fail(line, key, "expected a mapping of label names to text")
    lines = value.lines if isinstance(value, Marked) else {}
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise _fail(lines.get(name, line), key, f"label {name!r}: names and values must be text, got {text!r}")
    return tuple(value.items())


def parse_matcher(text: str) -> LabelMatcher:
    """'model=~"H100.*"' (or unquoted: model=~H100.*) -> LabelMatcher; ValueError if malformed."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a label matcher like model=~\"H100.*\" or node!=node-3")
    name, op, raw = found.groups()
    value = raw
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{text!r}: the quoted value is not closed or has a bad escape") from None
        if not isinstance(value, str):
            raise ValueError(f"{text!r}: the value must be text")
    return LabelMatcher(name, MatchOp(op), value)


def format_matcher(matcher: LabelMatcher) -> str:
    return f"{matcher.name}{matcher.op.value}{json.dumps(matcher.value, ensure_ascii=False)}"


def _scope(value: object, key: str, line: int) -> Scope:
    if not isinstance(value, Marked):
        raise _fail(line, key, "expected a mapping with node, gpu and/or match")
    where = value.lines
    unknown = [k for k in value if k not in ("node", "gpu", "match")]
    if unknown:
        raise _fail(where[unknown[0]], key, f"unknown field {unknown[0]!r}; use node, gpu, match")
    node, gpu, match = value.get("node"), value.get("gpu"), value.get("match", [])
    if node is not None and not isinstance(node, str):
        raise _fail(where["node"], "scope.node", f"expected a node name, got {node!r}")
    if gpu is not None and (isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0):
        raise _fail(where["gpu"], "scope.gpu", f"expected a GPU index (0, 1, ...), got {gpu!r}")
    if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
        raise _fail(where.get("match", line), "scope.match", 'expected a list like ["model=~H100.*"]')
    try:
        return Scope(node, gpu, tuple(parse_matcher(m) for m in match))
    except ValueError as exc:
        raise _fail(where["match"], "scope.match", str(exc)) from None


# file key -> (AlertRule field, converter)
_FIELDS: dict[str, tuple[str, Callable[[object, str, int], Any]]] = {
    "id": ("id", _text), "name": ("name", _text), "kind": ("kind", _choice(RuleKind)),
    "metric": ("metric", _text), "scope": ("scope", _scope), "aggregation": ("aggregation", _choice(Aggregation)),
    "window": ("window_s", parse_duration), "comparator": ("comparator", _choice(Comparator, _COMPARATOR_WORDS)),
    "threshold": ("threshold", _number), "clear_threshold": ("clear_threshold", _optional_number),
    "for": ("for_s", parse_duration), "keep_firing": ("keep_firing_s", parse_duration),
    "severity": ("severity", _choice(Severity)), "labels": ("labels", _labels),
    "description": ("description", _text), "no_data": ("no_data", _choice(MissingPolicy)),
    "on_error": ("on_error", _choice(MissingPolicy)), "enabled": ("enabled", _flag),
}
_FILE_KEY = {attr: key for key, (attr, _) in _FIELDS.items()}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "rule"


def _rule(item: object, number: int, line: int) -> AlertRule:
    if not isinstance(item, Marked):
        raise RulesFileError(line, f"rule {number}: expected a mapping of fields, got {item!r}")
    fields: dict[str, Any] = {}
    for key, value in item.items():
        if key not in _FIELDS:
            raise RulesFileError(item.lines[key], f"unknown field {key!r}; known: {', '.join(_FIELDS)}")
        attr, convert = _FIELDS[key]
        fields[attr] = convert(value, key, item.lines[key])
    if "name" not in fields:
        raise RulesFileError(item.line, f"rule {number}: a rule needs a name")
    fields.setdefault("id", _slug(fields["name"]))
    rule = AlertRule(**fields)
    for attr, reason in validate_rule(rule).items():
        key = _FILE_KEY.get(attr, attr)
        raise RulesFileError(item.lines.get(key, item.line), f"{key}: {reason}")
    if not rule.id.strip():
        raise RulesFileError(item.lines.get("id", item.line), "id: a rule id cannot be empty")
    return rule


def _rule_items(data: object) -> tuple[list[Any], int]:
    if data is None:
        return [], 0
    if isinstance(data, Marked):
        unknown = [k for k in data if k not in ("rules", "version")]
        if unknown:
            raise RulesFileError(data.lines[unknown[0]], f"unknown field {unknown[0]!r}; expected rules (and version)")
        if data.get("version", 1) != 1:
            raise RulesFileError(data.lines["version"], f"version {data['version']!r} is not supported; use 1")
        line = data.lines.get("rules", data.line)
        data = data.get("rules", [])
    else:
        line = 1
    if not isinstance(data, list):
        raise RulesFileError(line, "rules: expected a list of rules")
    return data, line


def load_rules(text: str, fmt: str) -> list[AlertRule]:
    """Rules from YAML (fmt "yaml"/"yml") or JSON text; RulesFileError names the first problem's line."""
    kind = fmt.lower().lstrip(".")
    if kind not in ("yaml", "yml", "json"):
        raise RulesFileError(0, f"unknown rule file format {fmt!r}; use yaml or json")
    items, line = _rule_items(parse_json(text) if kind == "json" else parse_yaml(text))
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        rule = _rule(item, number, line)
        if rule.id in seen:
            raise RulesFileError(item.lines.get("id", item.line), f"id: {rule.id!r} is used by an earlier rule")
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _plain(attr: str, value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if attr in ("window_s", "for_s", "keep_firing_s"):
        return format_duration(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if attr == "labels":
        return dict(value)
    if attr == "scope":
        scope = {"node": value.node, "gpu": value.gpu, "match": [format_matcher(m) for m in value.matchers]}
        return {k: v for k, v in scope.items() if v not in (None, [])}
    return value


# Written even at their default, so a rule reads completely; other fields only when they differ from it.
_ALWAYS = {
    RuleKind.THRESHOLD: ("metric", "aggregation", "window", "comparator", "threshold", "severity"),
    RuleKind.IDLE: ("window", "threshold", "severity"), RuleKind.XID: ("window", "severity"),
    RuleKind.NODE_DOWN: ("severity",),
}


def _rule_plain(rule: AlertRule, default: AlertRule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id, "name": rule.name, "kind": rule.kind.value}
    for key, (attr, _) in _FIELDS.items():
        value = getattr(rule, attr)
        if key not in out and (key in _ALWAYS[rule.kind] or value != getattr(default, attr)):
            out[key] = _plain(attr, value)
    return out


def dump_rules(rules: Sequence[AlertRule], fmt: str) -> str:
    """YAML or JSON text that ``load_rules`` reads back to the same rules (fields at their default are left out)."""
    default = AlertRule(id="", name="")
    data = {"version": 1, "rules": [_rule_plain(rule, default) for rule in rules]}
    if fmt.lower().lstrip(".") == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def format_for(path: Path) -> str:
    """"yaml" or "json" from the file name; RulesFileError for anything else."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    raise RulesFileError(0, f"{path.name}: use a .yaml, .yml or .json file")


def load_rules_file(path: Path) -> list[AlertRule]:
    fmt = format_for(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(0, f"cannot read {path}: {exc}") from None
    return load_rules(text, fmt)


def save_rules_file(path: Path, rules: Sequence[AlertRule]) -> None:
    text = dump_rules(rules, format_for(path))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(0, f"cannot write {path}: {exc}") from None


def default_rules_path() -> Path:
    """resources/default_rules.yaml (in a PyInstaller bundle or at the repository top level)."""
    return resources_dir() / "default_rules.yaml"


def default_rules() -> list[AlertRule]:
    """The default rule set shipped in resources/ (GPU too hot, memory nearly full, node down, ...)."""
    return load_rules_file(default_rules_path())
