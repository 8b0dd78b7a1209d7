"""Alert rules, states and events: the pure domain of alerting (Prometheus / Grafana semantics).

A rule is evaluated per series (one series = one node, or one GPU of a node). Each series moves
through ``AlertState``; every change of state is an ``AlertEvent``. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from gpuwatch_desktop.core.metrics import ALERT_METRICS_BY_KEY, MetricKind


class Severity(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class RuleKind(Enum):
    THRESHOLD = "threshold"  # a metric, aggregated over a window, compared with a threshold
    NODE_DOWN = "node_down"  # the poller shows the node down or stale
    XID = "xid"  # an XID error is reported on a GPU
    IDLE = "idle"  # utilisation under the threshold for the whole window (wasted money)


class Aggregation(Enum):
    LAST = "last"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    RATE = "rate"  # per-second increase of a counter over the window (resets handled)


class Comparator(Enum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, threshold: float) -> bool:
        return _COMPARE[self](value, threshold)


_COMPARE = {
    Comparator.GT: lambda a, b: a > b, Comparator.GE: lambda a, b: a >= b,
    Comparator.LT: lambda a, b: a < b, Comparator.LE: lambda a, b: a <= b,
    Comparator.EQ: lambda a, b: a == b, Comparator.NE: lambda a, b: a != b,
}


class MissingPolicy(Enum):
    """What a series does without data, or when its node cannot be scraped (Grafana's no-data and error handling)."""

    STATE = "state"  # show the series as NO_DATA (or ERROR); not notified
    ALERTING = "alerting"  # treat as firing
    OK = "ok"  # treat as inactive
    KEEP_LAST = "keep_last"  # keep whatever state it had


class AlertState(Enum):
    INACTIVE = "inactive"
    PENDING = "pending"  # the condition holds, waiting for the rule's `for` duration
    FIRING = "firing"
    RESOLVED = "resolved"  # was firing, condition cleared (an event; the series then counts as inactive)
    NO_DATA = "nodata"
    ERROR = "error"


class MatchOp(Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


SERIES_LABELS = ("node", "gpu", "hostname", "model", "uuid")  # what scope matchers can test


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """Matches a series label (node, gpu, hostname, model, uuid) like a PromQL label matcher."""

    name: str
    op: MatchOp
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op is MatchOp.RE else not found


@dataclass(frozen=True, slots=True)
class Scope:
    node: str | None = None  # None: every node
    gpu: int | None = None  # None: every GPU
    matchers: tuple[LabelMatcher, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertRule:
    id: str
    name: str
    kind: RuleKind = RuleKind.THRESHOLD
    metric: str = "gpu_temp"  # a key of core.metrics (unused by NODE_DOWN)
    scope: Scope = field(default_factory=Scope)
    aggregation: Aggregation = Aggregation.LAST
    window_s: float = 60.0
    comparator: Comparator = Comparator.GT
    threshold: float = 0.0
    clear_threshold: float | None = None  # hysteresis: firing clears only once this no longer holds
    for_s: float = 0.0  # pending this long before firing
    keep_firing_s: float = 0.0  # keep firing this long after the condition clears
    severity: Severity = Severity.WARNING
    labels: tuple[tuple[str, str], ...] = ()
    description: str = ""  # template: {node} {gpu} {value} {threshold} {unit} {cost}
    no_data: MissingPolicy = MissingPolicy.STATE  # the node answers but the metric has no value
    on_error: MissingPolicy = MissingPolicy.KEEP_LAST  # the node is stale or down (data source error)
    enabled: bool = True

    @property
    def per_gpu(self) -> bool:
        return self.kind is not RuleKind.NODE_DOWN


_FIXED_METRIC: dict[RuleKind, str | None] = {RuleKind.NODE_DOWN: None, RuleKind.XID: "xid", RuleKind.IDLE: "gpu_util"}


def effective_metric(rule: AlertRule) -> str | None:
    """The metric a rule watches: fixed for the special kinds (``rule.metric`` is ignored there)."""
    return rule.metric if rule.kind is RuleKind.THRESHOLD else _FIXED_METRIC[rule.kind]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    rule_id: str
    node: str
    gpu: int | None  # None for node-level rules

    @property
    def fingerprint(self) -> str:
        return f"{self.rule_id}/{self.node}/{'-' if self.gpu is None else self.gpu}"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One transition of one series, saved for history and sent to notification channels."""

    time: float
    rule_id: str
    rule_name: str
    node: str
    gpu: int | None
    state: AlertState
    previous: AlertState
    severity: Severity
    value: float | None
    summary: str  # the rule's description, filled in
    silenced: bool = False


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """A series currently pending or firing (or without data), as the UI and the tray show it."""

    key: SeriesKey
    rule_name: str
    state: AlertState
    severity: Severity
    since: float  # when it entered its current state
    active_since: float  # when it first became pending
    value: float | None
    summary: str
    labels: tuple[tuple[str, str], ...] = ()
    silenced: bool = False
    acknowledged: bool = False


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute notifications for a rule and/or a node until ``ends_at``; events are still recorded."""

    id: str
    rule_id: str | None
    node: str | None
    starts_at: float
    ends_at: float
    reason: str
    created_by: str = ""

    def covers(self, key: SeriesKey, now: float) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and self.rule_id in (None, key.rule_id)
            and self.node in (None, key.node)
        )


def validate_rule(rule: AlertRule) -> dict[str, str]:
    """Field name -> what is wrong with it; empty when the rule can be saved."""
    errors: dict[str, str] = {}
    if not rule.name.strip():
        errors["name"] = "a rule needs a name"
    if rule.kind is RuleKind.THRESHOLD:
        spec = ALERT_METRICS_BY_KEY.get(rule.metric)
        if spec is None:
            errors["metric"] = f"unknown metric {rule.metric!r}"
        elif rule.aggregation is Aggregation.RATE and spec.kind is not MetricKind.COUNTER:
            errors["aggregation"] = f"rate needs a counter; {spec.label} is a gauge"
    if rule.window_s <= 0 and rule.aggregation is not Aggregation.LAST:
        errors["window_s"] = "the window must be longer than 0 s"
    if rule.window_s < 0:
        errors["window_s"] = "the window cannot be negative"
    if rule.for_s < 0:
        errors["for_s"] = "'for' cannot be negative"
    if rule.keep_firing_s < 0:
        errors["keep_firing_s"] = "keep-firing cannot be negative"
    if rule.clear_threshold is not None and rule.comparator in (Comparator.EQ, Comparator.NE):
        errors["clear_threshold"] = "a clear threshold needs <, <=, > or >="
    elif rule.clear_threshold is not None and not _clear_is_on_the_safe_side(rule):
        errors["clear_threshold"] = "the clear threshold must be on the OK side of the threshold"
    for matcher in rule.scope.matchers:
        if matcher.name not in SERIES_LABELS:
            errors["scope"] = f"unknown label {matcher.name!r}; use {', '.join(SERIES_LABELS)}"
        elif matcher.op in (MatchOp.RE, MatchOp.NRE):
            try:
                re.compile(matcher.value)
            except re.error as exc:
                errors["scope"] = f"bad regular expression {matcher.value!r}: {exc}"
    try:
        render_description(rule, node="n", gpu=0, value=1.0)
    except (KeyError, ValueError, IndexError) as exc:
        errors["description"] = f"bad template: {exc}; use {{node}} {{gpu}} {{value}} {{threshold}} {{unit}} {{cost}}"
    return errors


def _clear_is_on_the_safe_side(rule: AlertRule) -> bool:
    assert rule.clear_threshold is not None
    if rule.comparator in (Comparator.GT, Comparator.GE):
        return rule.clear_threshold <= rule.threshold
    return rule.clear_threshold >= rule.threshold


def render_description(rule: AlertRule, node: str, gpu: int | None, value: float | None,
                       cost: float | None = None) -> str:
    spec = ALERT_METRICS_BY_KEY.get(effective_metric(rule) or "")
    template = rule.description or "{rule} on {node}" + ("" if gpu is None else " GPU {gpu}")
    return template.format(
        rule=rule.name, node=node, gpu="-" if gpu is None else gpu,
        value="no data" if value is None else f"{value:.4g}", threshold=f"{rule.threshold:g}",
        unit=spec.unit if spec else "", cost="unknown" if cost is None else f"${cost:.2f}/h",
    )
