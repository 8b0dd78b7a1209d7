"""What the agent's tools read: the ``ClusterData`` protocol, implemented in ``services.agent_data``.

Everything here is read-only. The Slurm and log sources are optional (None until the app has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent
from gpuwatch_desktop.core.slurm import SlurmJob, SlurmStatus
from gpuwatch_desktop.core.snapshot import NodeView


@dataclass(frozen=True, slots=True)
class Series:
    """One metric of one GPU over time, in the metric's unit; NaN where there was no value.

    ``min``/``max`` are per-point extremes (equal to ``mean`` for raw points).
    """

    ts: np.ndarray
    mean: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def empty(cls) -> Series:
        nothing = np.empty(0, dtype=np.float64)
        return cls(nothing, nothing, nothing, nothing)


class GpuRef(NamedTuple):
    node: str
    gpu: int
    model: str


class SlurmSource(Protocol):
    """The Slurm exporter (``services.slurm_service``): the cluster's nodes/CPUs/GPUs and its job list.

    ``status`` and ``jobs`` raise a GpuwatchError saying why when there is no data at all; stale data comes
    back with ``error`` set.
    """

    def connected(self) -> bool:
        """Whether an exporter is configured."""
        ...

    async def status(self) -> SlurmStatus: ...

    async def jobs(self, state: str, limit: int) -> Sequence[SlurmJob]:
        """Up to ``limit`` jobs of a group: all, running, pending or other."""
        ...


class LogSource(Protocol):
    """The pod's log server (issue 5): tails of the vLLM and service logs."""

    def services(self) -> Sequence[str]: ...

    async def tail(self, service: str, lines: int) -> list[str]: ...


class ClusterData(Protocol):
    """The app's data as the agent sees it. Implementations must not change anything."""

    slurm: SlurmSource | None
    logs: LogSource | None

    def views(self) -> Sequence[NodeView]:
        """Every watched node: its polling status and last good snapshot."""
        ...

    def active_alerts(self) -> Sequence[ActiveAlert]: ...

    async def alert_events(self, since: float, node: str | None, limit: int) -> Sequence[AlertEvent]:
        """Alert transitions from ``since`` on, newest first."""
        ...

    async def history(self, node: str, gpu: int, metric: str, start: float, end: float, max_points: int) -> Series:
        """One metric's stored history (empty when there is none)."""
        ...

    async def known_gpus(self) -> Sequence[GpuRef]:
        """Every GPU with history, sorted by node and index."""
        ...
