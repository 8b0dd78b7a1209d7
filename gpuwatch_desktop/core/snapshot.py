"""Immutable snapshots: what a source's poll returns and what the state store holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class Sample:
    """One parsed Prometheus sample. ``labels`` is shared between samples: never mutate it."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    index: int
    uuid: str
    model: str
    pci_bus_id: str
    values: Mapping[str, float]  # metric key (core.metrics) -> value; a missing key means "no value"

    def value(self, key: str) -> float | None:
        return self.values.get(key)


@dataclass(frozen=True, slots=True)
class GpuProcess:
    gpu_index: int
    pid: int
    name: str
    used_mib: float


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """One successful scrape of one node."""

    node: str  # the node's configured name
    hostname: str  # as the exporter labels it
    time: float  # unix seconds when the scrape finished
    gpus: tuple[GpuSnapshot, ...]
    processes: tuple[GpuProcess, ...] = ()
    warnings: tuple[str, ...] = ()  # problems that make the node "degraded": missing families, bad labels
    notes: tuple[str, ...] = ()  # facts worth showing that are not faults: fields the GPU does not support
    sample_count: int = 0

    def gpu(self, index: int) -> GpuSnapshot | None:
        return next((g for g in self.gpus if g.index == index), None)


class NodeState(Enum):
    UNKNOWN = "unknown"  # not polled yet
    UP = "up"  # last scrape succeeded and was complete
    DEGRADED = "degraded"  # last scrape succeeded but was incomplete or slow
    STALE = "stale"  # recent scrapes failed; last good data shown, marked stale
    DOWN = "down"  # several scrapes in a row failed


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """How polling one node is going, like Prometheus's ``up`` and ``scrape_*`` series."""

    node: str
    state: NodeState = NodeState.UNKNOWN
    reason: str = ""
    last_attempt: float | None = None
    last_success: float | None = None
    scrape_ms: float = 0.0
    sample_count: int = 0
    consecutive_failures: int = 0
    next_attempt: float | None = None


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the UI shows for a node: its status and its last good data (possibly stale)."""

    status: NodeStatus
    snapshot: NodeSnapshot | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
