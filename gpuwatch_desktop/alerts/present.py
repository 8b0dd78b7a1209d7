"""How a series is shown: its key, labels and filled-in description, cached across rounds.

Hundreds of series can be active at once and most look the same round after round, so keys and
labels are built once per row and a description is only rendered again when its value changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields

import numpy as np

from gpuwatch_desktop.alerts.layout import Layout, price_per_row
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertRule, AlertState, SeriesKey, Severity, render_description

AlertFactory = Callable[
    [SeriesKey, str, AlertState, Severity, float, float, float | None, str, tuple[tuple[str, str], ...], bool, bool],
    ActiveAlert,
]
_ALERT_FIELDS = ("key", "rule_name", "state", "severity", "since", "active_since", "value", "summary", "labels",
                 "silenced", "acknowledged")


class Presenter:
    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._prices: dict[str, float] = {}
        self._version = -1
        self._row_prices: list[float | None] = []
        self._keys: dict[tuple[str, bool], list[SeriesKey]] = {}
        self._labels: dict[bool, list[tuple[tuple[str, str], ...]]] = {}
        self._summaries: dict[str, dict[int, tuple[AlertRule, str | None, str]]] = {}

    def set_prices(self, prices: Mapping[str, float]) -> None:
        self._prices = dict(prices)
        self._version = -1

    def keys(self, rule: AlertRule) -> list[SeriesKey]:
        """The series key of each row of the rule's space (GPU rows, or node rows for node-level rules)."""
        keys = self._keys.setdefault((rule.id, rule.per_gpu), [])
        if rule.per_gpu:
            keys += [SeriesKey(rule.id, node, gpu) for node, gpu in self._layout.gpus[len(keys):]]
        else:
            keys += [SeriesKey(rule.id, node, None) for node in self._layout.nodes[len(keys):]]
        return keys

    def labels(self, rule: AlertRule, row: int) -> tuple[tuple[str, str], ...]:
        """The series' own labels (node, gpu, hostname, model, uuid), then the rule's."""
        self._check_version()
        per_gpu = rule.per_gpu
        own = self._labels.setdefault(per_gpu, [])
        if len(own) <= row:
            rows = self._layout.gpu_labels if per_gpu else [{"node": n} for n in self._layout.nodes]
            own += [tuple(labels.items()) for labels in rows[len(own):]]
        return own[row] + rule.labels if rule.labels else own[row]

    def summary(self, rule: AlertRule, key: SeriesKey, row: int, value: float | None) -> str:
        """The rule's description for this series; ``{cost}`` is the GPU's price per hour when known."""
        self._check_version()
        cache = self._summaries.setdefault(rule.id, {})
        shown = _shown_value(rule, value)
        cached = cache.get(row)
        if cached is not None and cached[0] is rule and cached[1] == shown:
            return cached[2]
        cost = self._row_prices[row] if key.gpu is not None else None
        text = render_description(rule, key.node, key.gpu, value, cost)
        cache[row] = (rule, shown, text)
        return text

    @property
    def version(self) -> int:
        """Changes whenever labels or prices (so summaries) may have changed."""
        self._check_version()
        return self._version

    def _check_version(self) -> None:
        if self._version != self._layout.version:
            self._version = self._layout.version
            prices = price_per_row(self._layout, self._prices)
            self._row_prices = [None if np.isnan(p) else p for p in prices.tolist()]
            self._labels.clear()
            self._summaries.clear()


def _shown_value(rule: AlertRule, value: float | None) -> str | None:
    """What of ``value`` a description can show: the text ``render_description`` puts in for it, or
    None when the template never mentions it (the default one does not); equal texts, equal summaries."""
    if "value" not in rule.description:
        return None
    return "no data" if value is None else f"{value:.4g}"


def _alert_factory() -> AlertFactory:
    """``ActiveAlert``'s constructor, all fields positional, without the frozen dataclass ``__init__``.

    That ``__init__`` calls ``object.__setattr__`` per field (~2.5 µs an alert); setting the slots
    through their descriptors takes ~1 µs, and hundreds of alerts change value every round. Falls
    back to the plain constructor if ``ActiveAlert`` ever changes shape.
    """
    slots = ActiveAlert.__dict__
    if tuple(f.name for f in fields(ActiveAlert)) != _ALERT_FIELDS or not all(
        hasattr(slots.get(name), "__set__") for name in _ALERT_FIELDS
    ):
        return ActiveAlert
    s_key, s_name, s_state, s_severity, s_since, s_active, s_value, s_summary, s_labels, s_silenced, s_acked = (
        slots[name].__set__ for name in _ALERT_FIELDS
    )
    new = object.__new__

    def make(key: SeriesKey, rule_name: str, state: AlertState, severity: Severity, since: float,
             active_since: float, value: float | None, summary: str, labels: tuple[tuple[str, str], ...],
             silenced: bool, acknowledged: bool) -> ActiveAlert:
        alert = new(ActiveAlert)
        s_key(alert, key)
        s_name(alert, rule_name)
        s_state(alert, state)
        s_severity(alert, severity)
        s_since(alert, since)
        s_active(alert, active_since)
        s_value(alert, value)
        s_summary(alert, summary)
        s_labels(alert, labels)
        s_silenced(alert, silenced)
        s_acked(alert, acknowledged)
        return alert

    return make


new_alert = _alert_factory()
