"""The one Qt bridge: re-emits state-store changes as signals, coalescing bursts so repaints are throttled."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from gpuwatch_desktop.services.state import Change, ClusterState

REPAINT_INTERVAL_MS = 250


class StateBridge(QObject):
    nodesChanged = Signal()  # the set of nodes changed
    nodesUpdated = Signal(list)  # names of nodes with new status or data
    roundFinished = Signal()
    storageChanged = Signal()
    alertsChanged = Signal()  # the active alerts (ClusterState.alerts) changed

    def __init__(self, state: ClusterState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._dirty_nodes: set[str] = set()
        self._nodes_changed = False
        self._round_finished = False
        self._alerts_changed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self._unsubscribe = state.subscribe(self._on_state_changed)
        self._subscribed = True
        # The Qt side can go before the Python side (its parent deleted): stop listening then.
        self.destroyed.connect(lambda *_: self.detach())

    def _alive(self) -> bool:
        return shiboken6.isValid(self) and shiboken6.isValid(self._timer)

    def _on_state_changed(self, change: Change, node: str) -> None:
        if not self._alive():
            self.detach()
            return
        if change is Change.STORAGE:
            self.storageChanged.emit()
            return
        if change is Change.NODES:
            self._nodes_changed = True
        elif change is Change.NODE:
            self._dirty_nodes.add(node)
        elif change is Change.ROUND:
            self._round_finished = True
        elif change is Change.ALERTS:
            self._alerts_changed = True
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        """Emit what changed since the last flush; stops early if a slot deleted this bridge (window closed)."""
        if self._nodes_changed and self._alive():
            self._nodes_changed = False
            self.nodesChanged.emit()
        if self._dirty_nodes and self._alive():
            nodes, self._dirty_nodes = sorted(self._dirty_nodes), set()
            self.nodesUpdated.emit(nodes)
        if self._round_finished and self._alive():
            self._round_finished = False
            self.roundFinished.emit()
        if self._alerts_changed and self._alive():
            self._alerts_changed = False
            self.alertsChanged.emit()

    def detach(self) -> None:
        if shiboken6.isValid(self._timer):
            self._timer.stop()
        if self._subscribed:
            self._subscribed = False
            self._unsubscribe()
