"""UI test helpers: real snapshots parsed from a recorded dcgm-exporter payload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from gpuwatch_desktop.core.snapshot import NodeSnapshot, NodeState, NodeStatus
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.sources.dcgm import parse_node_payload
from gpuwatch_desktop.sources.promtext import PromTextParser
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.theme import DARK

DATA = Path(__file__).resolve().parents[1] / "data"


def payload_snapshot(node: str, when: float | None = None) -> NodeSnapshot:
    text = (DATA / "dcgm_h100_8gpu.txt").read_text()
    return parse_node_payload(PromTextParser(), node, text, time.time() if when is None else when)


def up_status(snapshot: NodeSnapshot) -> NodeStatus:
    return NodeStatus(node=snapshot.node, state=NodeState.UP, last_attempt=snapshot.time,
                      last_success=snapshot.time, scrape_ms=3.0, sample_count=snapshot.sample_count)


@pytest.fixture
def state() -> ClusterState:
    return ClusterState()


@pytest.fixture
def window(qtbot: object, state: ClusterState, tmp_path: Path) -> Iterator[MainWindow]:
    bridge = StateBridge(state)
    layout = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    win = MainWindow(state, bridge, DARK, layout)
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    yield win
    bridge.detach()
