"""The Slurm exporter's data: nodes, partitions, jobs and one collected snapshot (immutable).

A node's ``state`` is the lower-case base state as sinfo prints it ("idle", "mixed", "allocated",
"drained", "draining", "down", ...), or ``other:<raw>`` for a state we do not know. Its
``category`` is the vpenso/prometheus-slurm-exporter bucket it counts in (``slurm_nodes_<category>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

NODE_CATEGORIES = ("alloc", "comp", "down", "drain", "err", "fail", "idle", "maint", "mix", "resv", "other")
STATE_CATEGORY = {
    "allocated": "alloc", "completing": "comp", "down": "down", "drained": "drain", "draining": "drain",
    "error": "err", "fail": "fail", "failing": "fail", "idle": "idle", "maint": "maint", "mixed": "mix",
    "reserved": "resv",
}
# Nodes in these categories cannot take new work: their unallocated CPUs and GPUs count as "other".
UNUSABLE_CATEGORIES = frozenset({"down", "drain", "err", "fail", "other"})

QUEUE_STATES = (
    "pending", "running", "suspended", "cancelled", "completing", "completed", "configuring", "failed",
    "timeout", "preempted", "node_fail",
)
# Job states Slurm has that the common exporters fold into one of QUEUE_STATES.
QUEUE_ALIASES = {"out_of_memory": "failed", "boot_fail": "failed", "deadline": "timeout"}


@dataclass(frozen=True, slots=True)
class SlurmNode:
    name: str
    state: str
    reason: str = ""
    partitions: tuple[str, ...] = ()
    cpus_total: int = 0
    cpus_alloc: int = 0
    cpus_idle: int = 0
    cpus_other: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0
    memory_mb: int = 0

    @property
    def category(self) -> str:
        return STATE_CATEGORY.get(self.state, "other")

    @property
    def gpus_other(self) -> int:
        """Unallocated GPUs on a node that cannot take work."""
        return max(self.gpus_total - self.gpus_alloc, 0) if self.category in UNUSABLE_CATEGORIES else 0


@dataclass(frozen=True, slots=True)
class SlurmPartition:
    name: str
    default: bool = False
    state: str = "up"  # lower case as sinfo prints it: up, down, drain, inact
    time_limit_s: int | None = None  # None: unlimited


@dataclass(frozen=True, slots=True)
class SlurmJob:
    id: str  # "123"; array tasks "123_4", a pending array "123_[1-8]"
    name: str
    user: str
    partition: str
    state: str  # upper case Slurm state: PENDING, RUNNING, COMPLETING, ...
    reason: str = ""
    nodes: str = ""  # Slurm nodelist, "" while pending
    num_nodes: int = 0
    cpus: int = 0
    gpus: int = 0
    submit_time: float | None = None
    start_time: float | None = None
    time_limit_s: int | None = None  # None: unlimited

    @property
    def queue_state(self) -> str | None:
        """The ``slurm_queue_<state>`` bucket, or None for a state the common exporters do not count."""
        state = self.state.lower()
        state = QUEUE_ALIASES.get(state, state)
        return state if state in QUEUE_STATES else None


@dataclass(frozen=True, slots=True)
class SlurmSnapshot:
    """What one collection saw. With ``error`` set the lists are the last good ones (or empty) and
    ``collected_at`` is when those were collected."""

    collected_at: float
    nodes: tuple[SlurmNode, ...] = ()
    partitions: tuple[SlurmPartition, ...] = ()
    jobs: tuple[SlurmJob, ...] = ()
    error: str | None = None
    duration_s: float = 0.0
    collect_errors: tuple[tuple[str, int], ...] = (("sinfo", 0), ("squeue", 0))  # (command, errors so far)
    has_data: bool = True  # False when nothing was ever collected

    @property
    def ok(self) -> bool:
        return self.error is None


class SlurmSource(Protocol):
    """Anything that can say what a Slurm cluster looks like now: the real commands or a simulation."""

    def collect(self) -> SlurmSnapshot: ...
