"""The agent's view of the running app: ``ClusterData`` over the state store, the history and the alerts.

Read-only: nothing here writes to the database or changes the state. Without a history database the
live ring buffers answer history questions (recent minutes only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpuwatch_desktop.agent.data import GpuRef, LogSource, Series, SlurmSource
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent
from gpuwatch_desktop.core.snapshot import NodeView
from gpuwatch_desktop.services.alerts_service import AlertService
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.state import ClusterState


class AppClusterData:
    """Implements ``gpuwatch_desktop.agent.data.ClusterData``."""

    def __init__(self, state: ClusterState, history: HistoryWorker | None = None,
                 alerts: AlertService | None = None, slurm: SlurmSource | None = None,
                 logs: LogSource | None = None) -> None:
        self.state = state
        self.history_worker = history
        self.alert_service = alerts
        self.slurm = slurm
        self.logs = logs

    def views(self) -> Sequence[NodeView]:
        return self.state.views()

    def active_alerts(self) -> Sequence[ActiveAlert]:
        return self.state.alerts

    async def alert_events(self, since: float, node: str | None, limit: int) -> Sequence[AlertEvent]:
        if self.alert_service is not None:
            return await self.alert_service.events(since=since, node=node, limit=limit)
        if self.history_worker is not None:
            return await self.history_worker.run(lambda s: s.alerts().events(since=since, node=node, limit=limit))
        return []

    async def history(self, node: str, gpu: int, metric: str, start: float, end: float, max_points: int) -> Series:
        if self.history_worker is not None:
            found = (await self.history_worker.query(node, gpu, [metric], start, end, max_points))[metric]
            if len(found):
                return Series(found.ts, found.mean, found.min, found.max)
        ts, values = self.state.live.series(node, gpu, metric, since=start)
        keep = ts <= end
        ts, values = ts[keep], values[keep]
        if len(ts) > max_points:  # evenly thinned; the statistics need no more
            pick = np.linspace(0, len(ts) - 1, max_points).astype(int)
            ts, values = ts[pick], values[pick]
        return Series(ts, values, values, values)

    async def known_gpus(self) -> Sequence[GpuRef]:
        refs: dict[tuple[str, int], GpuRef] = {}
        if self.history_worker is not None:
            for known in await self.history_worker.known_gpus():
                refs[(known.node, known.gpu_index)] = GpuRef(known.node, known.gpu_index, known.model)
        for view in self.state.views():
            for gpu in view.snapshot.gpus if view.snapshot is not None else ():
                refs.setdefault((view.status.node, gpu.index), GpuRef(view.status.node, gpu.index, gpu.model))
        return [refs[k] for k in sorted(refs)]
