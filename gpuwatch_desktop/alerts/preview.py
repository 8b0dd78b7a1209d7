"""How a rule would have behaved on past data: the same engine replayed over stored history.

The rule editor calls ``preview_rule`` with the last hour of the rule's metric for every GPU.
The replay steps a clock through that time every ``step_s`` seconds; at each step every node
answers (state UP) with its newest sample so far, and the engine reads its windows from a
``WindowSource`` over the arrays that never shows a sample after the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from gpuwatch_desktop.alerts.engine import AlertEngine
from gpuwatch_desktop.core.alerts import AlertEvent, AlertRule, AlertState, effective_metric, validate_rule
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus, NodeView

History = Mapping[tuple[str, int], tuple[np.ndarray, np.ndarray]]  # (node, gpu) -> (times, values), time order


@dataclass(frozen=True, slots=True)
class RulePreview:
    fired_count: int  # how many times a series started firing
    series_fired: int  # how many different GPUs (or nodes) fired
    pending_count: int  # how many times a series became pending
    events: list[AlertEvent]
    summary: str  # one line for the editor: "would have fired 3 times on 2 GPUs in the last hour"


class ArrayWindow:
    """A ``WindowSource`` over fixed arrays of one metric that hides samples after ``now``."""

    def __init__(self, history: History, key: str) -> None:
        self._history = history
        self._key = key
        self.now = -math.inf

    def series(self, node: str, gpu_index: int, key: str, since: float) -> tuple[np.ndarray, np.ndarray]:
        if key != self._key:
            raise KeyError(key)
        found = self._history.get((node, gpu_index))
        if found is None:
            return np.empty(0), np.empty(0)
        times, values = found
        lo, hi = np.searchsorted(times, since, "left"), np.searchsorted(times, self.now, "right")
        return times[lo:hi], values[lo:hi]


def preview_rule(rule: AlertRule, history: History, step_s: float = 10.0,
                 labels: Mapping[tuple[str, int], Mapping[str, str]] | None = None) -> RulePreview:
    """Replay ``rule`` over ``history`` (its metric per GPU); ``labels`` (hostname, model, uuid) serve scope matchers.

    ValueError if the rule is invalid or ``step_s`` is not positive.
    """
    problems = validate_rule(rule)
    if problems or step_s <= 0:
        raise ValueError("; ".join(f"{k}: {v}" for k, v in problems.items()) or "the step must be positive")
    key = effective_metric(rule)
    if key is None:
        return RulePreview(0, 0, 0, [], "node-down rules follow polling, not metric history: no preview")
    data = {gpu: (np.asarray(ts, dtype=float), np.asarray(vs, dtype=float)) for gpu, (ts, vs) in history.items()}
    data = {gpu: arrays for gpu, arrays in data.items() if len(arrays[0])}
    if not data:
        return RulePreview(0, 0, 0, [], "no stored history to replay yet")
    start = min(float(ts[0]) for ts, _ in data.values())
    end = max(float(ts[-1]) for ts, _ in data.values())
    engine = AlertEngine([replace(rule, enabled=True)])
    source = ArrayWindow(data, key)
    events: list[AlertEvent] = []
    for now in np.append(np.arange(start, end, step_s), end).tolist():
        source.now = now
        events += engine.evaluate(now, _views(data, key, now, labels or {}), source).events
    return _result(rule, events, end - start)


def _views(data: History, key: str, now: float, labels: Mapping[tuple[str, int], Mapping[str, str]]) -> list[NodeView]:
    """Every node UP, with each GPU's newest sample at ``now`` (GPUs without one yet are left out)."""
    nodes: dict[str, tuple[float, list[GpuSnapshot]]] = {}
    for (node, gpu), (times, values) in data.items():
        last = int(np.searchsorted(times, now, "right")) - 1
        if last < 0:
            continue
        extra = labels.get((node, gpu), {})
        snap = GpuSnapshot(gpu, extra.get("uuid", ""), extra.get("model", ""), "", {key: float(values[last])})
        time, gpus = nodes.get(node, (-math.inf, []))
        nodes[node] = (max(time, float(times[last])), [*gpus, snap])
    views = []
    for node, (time, gpus) in nodes.items():
        hostname = next((labels[(node, g.index)]["hostname"] for g in gpus
                         if "hostname" in labels.get((node, g.index), {})), node)
        snapshot = NodeSnapshot(node, hostname, time, tuple(sorted(gpus, key=lambda g: g.index)))
        views.append(NodeView(NodeStatus(node, NodeState.UP, last_success=time), snapshot))
    return views


def _result(rule: AlertRule, events: list[AlertEvent], span_s: float) -> RulePreview:
    fired = [e for e in events if e.state is AlertState.FIRING]
    pending = sum(1 for e in events if e.state is AlertState.PENDING)
    series = len({(e.node, e.gpu) for e in fired})
    period = _period(span_s)
    if fired:
        times = "once" if len(fired) == 1 else "twice" if len(fired) == 2 else f"{len(fired)} times"
        text = f"would have fired {times} on {series} GPU{'' if series == 1 else 's'} in the last {period}"
    else:
        text = f"would not have fired in the last {period}"
        if pending:
            text += f" (pending {pending} time{'' if pending == 1 else 's'}, never for long enough)"
    return RulePreview(len(fired), series, pending, events, text)


def _period(seconds: float) -> str:
    if abs(seconds - 3600) <= 60:
        return "hour"
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
