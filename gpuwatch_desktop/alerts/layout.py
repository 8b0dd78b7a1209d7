"""Which series exist: a row per GPU and per node seen in the views, their labels, and each rule's scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gpuwatch_desktop.core.alerts import AlertRule, Scope
from gpuwatch_desktop.core.snapshot import NodeState, NodeView

_ERROR_STATES = (NodeState.STALE, NodeState.DOWN, NodeState.UNKNOWN)
_DOWN_STATES = (NodeState.STALE, NodeState.DOWN)


class Layout:
    """Rows only ever get added; a node missing from the views is simply not in any rule's scope."""

    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.node_index: dict[str, int] = {}
        self.gpus: list[tuple[str, int]] = []  # row -> (node, gpu index)
        self.gpu_index: dict[tuple[str, int], int] = {}
        self.gpu_labels: list[dict[str, str]] = []
        self.gpu_node = np.empty(0, dtype=np.int64)  # row -> node row
        self.version = 0  # bumped whenever rows, labels or the set of present nodes change
        self._signature: dict[str, object] = {}
        self._present: frozenset[str] = frozenset()
        self._selections: dict[tuple[int, Scope, bool], np.ndarray] = {}

    def update(self, views: Sequence[NodeView]) -> None:
        present = frozenset(v.status.node for v in views)
        changed = present != self._present
        self._present = present
        for view in views:
            changed |= self._update_node(view)
        if changed:
            self.version += 1
            self._selections.clear()

    def node_vectors(self, views: Sequence[NodeView]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node row: in an error state (stale/down/unknown), down or stale, consecutive failures."""
        error = np.zeros(len(self.nodes), dtype=bool)
        down = np.zeros(len(self.nodes), dtype=bool)
        failures = np.zeros(len(self.nodes))
        for view in views:
            row = self.node_index[view.status.node]
            error[row] = view.status.state in _ERROR_STATES
            down[row] = view.status.state in _DOWN_STATES
            failures[row] = view.status.consecutive_failures
        return error, down, failures

    def select(self, rule: AlertRule) -> np.ndarray:
        """Rows (GPU rows, or node rows for node-level rules) in the rule's scope among present nodes."""
        cache_key = (self.version, rule.scope, rule.per_gpu)
        found = self._selections.get(cache_key)
        if found is None:
            found = self._selections[cache_key] = self._select(rule.scope, rule.per_gpu)
        return found

    def _select(self, scope: Scope, per_gpu: bool) -> np.ndarray:
        if not per_gpu:
            return np.array([i for i, node in enumerate(self.nodes)
                             if node in self._present and scope.node in (None, node)
                             and all(m.matches({"node": node}) for m in scope.matchers)], dtype=np.int64)
        return np.array([row for row, (node, gpu) in enumerate(self.gpus)
                         if node in self._present and scope.node in (None, node) and scope.gpu in (None, gpu)
                         and all(m.matches(self.gpu_labels[row]) for m in scope.matchers)], dtype=np.int64)

    def _update_node(self, view: NodeView) -> bool:
        node, snapshot = view.status.node, view.snapshot
        changed = False
        if node not in self.node_index:
            self.node_index[node] = len(self.nodes)
            self.nodes.append(node)
            changed = True
        if snapshot is None:
            return changed
        signature = (snapshot.hostname, tuple((g.index, g.uuid, g.model) for g in snapshot.gpus))
        if self._signature.get(node) == signature:
            return changed
        self._signature[node] = signature
        for gpu in snapshot.gpus:
            labels = {"node": node, "gpu": str(gpu.index), "hostname": snapshot.hostname,
                      "model": gpu.model, "uuid": gpu.uuid}
            row = self.gpu_index.get((node, gpu.index))
            if row is None:
                self.gpu_index[(node, gpu.index)] = len(self.gpus)
                self.gpus.append((node, gpu.index))
                self.gpu_labels.append(labels)
            else:
                self.gpu_labels[row] = labels
        self.gpu_node = np.array([self.node_index[n] for n, _ in self.gpus], dtype=np.int64)
        return True


def price_per_row(layout: Layout, prices: Mapping[str, float]) -> np.ndarray:
    """$ per GPU-hour for each GPU row (NaN where unknown): an exact model name, else the longest name it contains."""
    by_lower = {name.lower(): price for name, price in prices.items()}
    out = np.full(len(layout.gpus), np.nan)
    for row, labels in enumerate(layout.gpu_labels):
        model = labels["model"].lower()
        if model in by_lower:
            out[row] = by_lower[model]
            continue
        contained = [name for name in by_lower if name and name in model]
        if contained:
            out[row] = by_lower[max(contained, key=len)]
    return out
