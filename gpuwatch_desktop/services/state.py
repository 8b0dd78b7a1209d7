"""The Qt-free state store: the poller publishes into it, the UI bridge listens to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from gpuwatch_desktop.core.alerts import ActiveAlert
from gpuwatch_desktop.core.snapshot import NodeSnapshot, NodeState, NodeStatus, NodeView
from gpuwatch_desktop.services.live import LiveHistory


class Change(Enum):
    NODES = "nodes"  # the set of watched nodes changed
    NODE = "node"  # one node's status or data changed
    ROUND = "round"  # a poll round finished
    STORAGE = "storage"  # the history database's health changed
    ALERTS = "alerts"  # the active alerts changed


@dataclass(frozen=True, slots=True)
class RoundInfo:
    finished_at: float
    duration_ms: float
    nodes_up: int
    nodes_total: int


Listener = Callable[[Change, str], None]

_UP_STATES = (NodeState.UP, NodeState.DEGRADED)


class ClusterState:
    """Holds one ``NodeView`` per node, the last round and the storage health; notifies listeners."""

    def __init__(self, live: LiveHistory | None = None) -> None:
        self.live = live or LiveHistory()
        self._views: dict[str, NodeView] = {}
        self._listeners: list[Listener] = []
        self.last_round: RoundInfo | None = None
        self.storage_error: str | None = None
        self.alerts: tuple[ActiveAlert, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:  # safe to call twice
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, change: Change, node: str = "") -> None:
        for listener in list(self._listeners):
            listener(change, node)

    @property
    def node_names(self) -> list[str]:
        return list(self._views)

    def view(self, node: str) -> NodeView | None:
        return self._views.get(node)

    def views(self) -> list[NodeView]:
        return list(self._views.values())

    def set_nodes(self, names: Iterable[str]) -> None:
        """Watch exactly these nodes, keeping what is known of those already watched."""
        names = list(names)
        for gone in set(self._views) - set(names):
            self.live.forget(gone)
        self._views = {n: self._views.get(n) or NodeView(NodeStatus(node=n)) for n in names}
        self._notify(Change.NODES)

    def publish(self, status: NodeStatus, snapshot: NodeSnapshot | None = None) -> None:
        """A new status for a node, with fresh data when the scrape succeeded (else the last good data stays)."""
        old = self._views.get(status.node)
        if old is None:
            return  # the node was removed while its scrape was in flight
        if snapshot is not None:
            self.live.add(snapshot)
        self._views[status.node] = replace(old, status=status, snapshot=snapshot or old.snapshot)
        self._notify(Change.NODE, status.node)

    def finish_round(self, info: RoundInfo) -> None:
        self.last_round = info
        self._notify(Change.ROUND)

    def set_storage_error(self, message: str | None) -> None:
        if message != self.storage_error:
            self.storage_error = message
            self._notify(Change.STORAGE)

    def set_alerts(self, alerts: Sequence[ActiveAlert]) -> None:
        alerts = tuple(alerts)
        if alerts != self.alerts:
            self.alerts = alerts
            self._notify(Change.ALERTS)

    def count_up(self) -> int:
        return sum(1 for v in self._views.values() if v.status.state in _UP_STATES)
