"""A small cluster fed to the real alert engine through a real LiveHistory, one poll round at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gpuwatch_desktop.alerts import AlertEngine, Evaluation
from gpuwatch_desktop.core.alerts import AlertEvent, AlertRule, AlertState
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus, NodeView
from gpuwatch_desktop.services.live import LiveHistory

T0 = 1_700_000_000.0
MODEL = "NVIDIA H100 80GB HBM3"


def snapshot(node: str, time: float, gpus: Mapping[int, Mapping[str, float]], model: str = MODEL) -> NodeSnapshot:
    return NodeSnapshot(node, f"host-{node}", time, tuple(
        GpuSnapshot(i, f"GPU-{node}-{i}", model, f"0000:{i:02x}:00.0", dict(values)) for i, values in gpus.items()
    ))


class Cluster:
    """Nodes polled every ``step`` seconds; each ``poll`` adds a round to the history and evaluates."""

    def __init__(self, rules: Sequence[AlertRule], step: float = 2.0, history: LiveHistory | None = None) -> None:
        self.engine = AlertEngine(rules)
        self.history = history or LiveHistory()
        self.step = step
        self.now = T0
        self.last: dict[str, NodeSnapshot] = {}
        self.events: list[AlertEvent] = []

    def poll(self, gpus: Mapping[str, Mapping[int, Mapping[str, float]]],
             states: Mapping[str, NodeState] | None = None, failures: int = 0, models: Mapping[str, str] | None = None,
             evaluate: bool = True) -> Evaluation | None:
        """One round: nodes in ``gpus`` answer with these values; ``states`` marks others stale/down."""
        self.now += self.step
        views = []
        for node, values in gpus.items():
            state = (states or {}).get(node, NodeState.UP)
            if state in (NodeState.UP, NodeState.DEGRADED):
                self.last[node] = snapshot(node, self.now, values, (models or {}).get(node, MODEL))
                self.history.add(self.last[node])
            status = NodeStatus(node, state, consecutive_failures=failures if state is not NodeState.UP else 0)
            views.append(NodeView(status, self.last.get(node)))
        if not evaluate:
            return None
        result = self.engine.evaluate(self.now, views, self.history)
        self.events += result.events
        return result

    def run(self, seconds: float, gpus: Mapping[str, Mapping[int, Mapping[str, float]]],
            **kwargs: object) -> Evaluation:
        result = None
        for _ in range(round(seconds / self.step)):
            result = self.poll(gpus, **kwargs)  # type: ignore[arg-type]
        assert result is not None
        return result

    def states(self) -> list[tuple[AlertState, AlertState]]:
        return [(e.previous, e.state) for e in self.events]


def one(metric: str, value: float, node: str = "n1", gpu: int = 0) -> dict[str, dict[int, dict[str, float]]]:
    return {node: {gpu: {metric: value}}}
