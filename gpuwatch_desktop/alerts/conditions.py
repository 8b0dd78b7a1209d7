"""What each rule kind says about its series this round: a mode (see ``state``) and a value per series.

Window aggregates are computed once per (metric, window, aggregation) for every GPU and shared by
all rules that ask for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpuwatch_desktop.alerts.aggregate import aggregate, coverage
from gpuwatch_desktop.alerts.intake import WindowStore
from gpuwatch_desktop.alerts.layout import Layout
from gpuwatch_desktop.alerts.state import CLEAR, HOLD, TO_ERROR, TO_NO_DATA, policy_mode
from gpuwatch_desktop.alerts.windows import Window
from gpuwatch_desktop.core.alerts import Aggregation, AlertRule, Comparator, RuleKind, effective_metric
from gpuwatch_desktop.core.snapshot import NodeView

LOOKBACK_S = 300.0  # "last" with no window: the newest sample of the last 5 minutes (Prometheus's lookback)

_COMPARE = {
    Comparator.GT: np.greater, Comparator.GE: np.greater_equal, Comparator.LT: np.less,
    Comparator.LE: np.less_equal, Comparator.EQ: np.equal, Comparator.NE: np.not_equal,
}


def window_of(rule: AlertRule) -> float:
    return rule.window_s if rule.window_s > 0 else LOOKBACK_S


def windows_needed(rules: Sequence[AlertRule]) -> dict[str, float]:
    """Metric -> the longest window any enabled rule reads it over (s), plus a little slack."""
    keep: dict[str, float] = {}
    for rule in rules:
        key = effective_metric(rule)
        if rule.enabled and key is not None:
            keep[key] = max(keep.get(key, 0.0), window_of(rule))
    return {key: seconds + max(10.0, 0.05 * seconds) for key, seconds in keep.items()}


class RoundData:
    """The inputs of one evaluation round, with aggregates cached for the rules that share them."""

    def __init__(self, now: float, views: Sequence[NodeView], layout: Layout, store: WindowStore) -> None:
        self.now = now
        self.layout = layout
        self.node_error, self.node_down, self.failures = layout.node_vectors(views)
        self.gpu_error = self.node_error[layout.gpu_node]
        self._store = store
        self._windows: dict[tuple[str, float], Window] = {}
        self._results: dict[tuple[str, float, Aggregation | None], np.ndarray] = {}

    def aggregate(self, key: str, seconds: float, how: Aggregation) -> np.ndarray:
        found = self._results.get((key, seconds, how))
        if found is None:
            found = self._results[(key, seconds, how)] = aggregate(self._window(key, seconds), how)
        return found

    def covered(self, key: str, seconds: float) -> np.ndarray:
        found = self._results.get((key, seconds, None))
        if found is None:
            found = self._results[(key, seconds, None)] = coverage(self._window(key, seconds))
        return found

    def _window(self, key: str, seconds: float) -> Window:
        found = self._windows.get((key, seconds))
        if found is None:
            found = self._windows[(key, seconds)] = self._store.rings[key].window(self.now - seconds)
        return found


def condition(rule: AlertRule, rows: np.ndarray, firing: np.ndarray, data: RoundData) -> tuple[np.ndarray, np.ndarray]:
    """(mode, value) for each series ``rows`` of ``rule``; ``firing`` marks those currently firing."""
    if rule.kind is RuleKind.NODE_DOWN:
        hold = data.node_down[rows]
        return np.where(hold, HOLD, CLEAR), data.failures[rows]
    seconds = window_of(rule)
    if rule.kind is RuleKind.XID:
        value = data.aggregate("xid", seconds, Aggregation.LAST)[rows]
        hold = value > 0
    elif rule.kind is RuleKind.IDLE:
        value = data.aggregate("gpu_util", seconds, Aggregation.MAX)[rows]
        hold = data.covered("gpu_util", seconds)[rows] & (value < rule.threshold)
    else:
        value = data.aggregate(rule.metric, seconds, rule.aggregation)[rows]
        compare = _COMPARE[rule.comparator]
        hold = compare(value, rule.threshold)
        if rule.clear_threshold is not None:
            hold = np.where(firing, compare(value, rule.clear_threshold), hold)
    mode = np.where(hold, HOLD, CLEAR)
    mode[np.isnan(value)] = policy_mode(rule.no_data, TO_NO_DATA)
    mode[data.gpu_error[rows]] = policy_mode(rule.on_error, TO_ERROR)
    return mode, value
