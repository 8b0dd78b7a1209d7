"""The state → Qt bridge outlives nothing: when its Qt side is deleted it stops listening."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.services.state import Change, ClusterState
from gpuwatch_desktop.ui.bridge import StateBridge


def test_bursts_of_changes_arrive_as_one_coalesced_signal(qtbot: QtBot) -> None:
    state = ClusterState()
    bridge = StateBridge(state)
    updates: list[list[str]] = []
    bridge.nodesUpdated.connect(updates.append)
    state.set_nodes(["a", "b"])
    for name in ("a", "b", "a"):
        state._notify(Change.NODE, name)
    qtbot.waitUntil(lambda: bool(updates))
    assert updates == [["a", "b"]]
    bridge.detach()


def test_a_bridge_whose_parent_was_deleted_stops_listening(qtbot: QtBot) -> None:
    state = ClusterState()
    parent = QObject()
    bridge = StateBridge(state, parent)
    state.set_nodes(["a"])  # the coalescing timer is running
    shiboken6.delete(parent)  # the window went away; the Python bridge object is still referenced
    assert not shiboken6.isValid(bridge)
    state.set_nodes(["b"])  # must not raise "Signal source has been deleted"
    qtbot.wait(300)
    assert not state._listeners
