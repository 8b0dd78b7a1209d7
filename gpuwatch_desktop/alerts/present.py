"""How a series is shown: its key, labels and filled-in description, cached across rounds.

Hundreds of series can be active at once and most look the same round after round, so keys and
labels are built once per row and a description is only rendered again when its value changed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gpuwatch_desktop.alerts.layout import Layout, price_per_row
from gpuwatch_desktop.core.alerts import AlertRule, SeriesKey, render_description


class Presenter:
    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._prices: dict[str, float] = {}
        self._version = -1
        self._row_prices = np.empty(0)
        self._keys: dict[tuple[str, bool, int], SeriesKey] = {}
        self._labels: dict[tuple[bool, int], tuple[tuple[str, str], ...]] = {}
        self._summaries: dict[tuple[str, int], tuple[AlertRule, float | None, str]] = {}

    def set_prices(self, prices: Mapping[str, float]) -> None:
        self._prices = dict(prices)
        self._version = -1

    def key(self, rule: AlertRule, row: int) -> SeriesKey:
        cache_key = (rule.id, rule.per_gpu, row)
        found = self._keys.get(cache_key)
        if found is None:
            if rule.per_gpu:
                node, gpu = self._layout.gpus[row]
                found = SeriesKey(rule.id, node, gpu)
            else:
                found = SeriesKey(rule.id, self._layout.nodes[row], None)
            self._keys[cache_key] = found
        return found

    def labels(self, rule: AlertRule, row: int) -> tuple[tuple[str, str], ...]:
        """The series' own labels (node, gpu, hostname, model, uuid), then the rule's."""
        self._check_version()
        own = self._labels.get((rule.per_gpu, row))
        if own is None:
            labels = self._layout.gpu_labels[row].items() if rule.per_gpu else (("node", self._layout.nodes[row]),)
            own = tuple(labels)
            self._labels[(rule.per_gpu, row)] = own
        return own + rule.labels if rule.labels else own

    def summary(self, rule: AlertRule, row: int, value: float | None) -> str:
        """The rule's description for this series; ``{cost}`` is the GPU's price per hour when known."""
        self._check_version()
        cached = self._summaries.get((rule.id, row))
        if cached is not None and cached[0] is rule and cached[1] == value:
            return cached[2]
        cost = None
        if rule.per_gpu and not np.isnan(self._row_prices[row]):
            cost = float(self._row_prices[row])
        key = self.key(rule, row)
        text = render_description(rule, key.node, key.gpu, value, cost)
        self._summaries[(rule.id, row)] = (rule, value, text)
        return text

    def _check_version(self) -> None:
        if self._version != self._layout.version:
            self._version = self._layout.version
            self._row_prices = price_per_row(self._layout, self._prices)
            self._labels.clear()
            self._summaries.clear()
