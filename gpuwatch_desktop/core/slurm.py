"""Slurm as the app sees it: nodes, partitions, jobs and totals from the pod's Slurm exporter (pure, no I/O)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# Job state groups the view and the agent filter by.
RUNNING = "running"
PENDING = "pending"
OTHER = "other"
_RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "RESIZING", "STAGE_OUT"})  # holding nodes

# Node state levels, for colours: ok (idle), busy (in use), warn (out of service on purpose), crit (broken).
_NODE_LEVELS = {
    "ok": ("idle",),
    "busy": ("mixed", "mix", "allocated", "alloc", "completing", "comp"),
    "warn": ("drained", "draining", "drain", "maint", "reserved", "resv", "planned", "powered_down",
             "powering_down", "powering_up", "power_down", "future"),
    "crit": ("down", "fail", "failing", "error", "err", "inval", "unknown", "not_responding"),
}
_LEVEL_OF_STATE = {state: level for level, states in _NODE_LEVELS.items() for state in states}


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One job of the queue, as squeue lists it (times are epoch seconds)."""

    id: str
    name: str
    user: str
    partition: str
    state: str  # upper case Slurm state: PENDING, RUNNING, COMPLETING...
    reason: str = ""
    nodes: str = ""  # Slurm node list ("" while pending)
    num_nodes: int = 0
    cpus: int = 0
    gpus: int = 0
    submit_time: float | None = None
    start_time: float | None = None
    time_limit_s: int | None = None  # None: unlimited

    @property
    def group(self) -> str:
        """running, pending or other (completed, failed, cancelled...)."""
        if self.state == "PENDING":
            return PENDING
        return RUNNING if self.state in _RUNNING_STATES else OTHER

    def waited_s(self, now: float) -> float | None:
        """How long it has been (or was) waiting to start."""
        if self.submit_time is None:
            return None
        end = now if self.group == PENDING or self.start_time is None else self.start_time
        return max(0.0, end - self.submit_time)

    def run_s(self, now: float) -> float | None:
        """How long it has been running (None while pending)."""
        if self.group == PENDING or self.start_time is None:
            return None
        return max(0.0, now - self.start_time)

    def left_s(self, now: float) -> float | None:
        """Time left before its limit (None while pending or when unlimited)."""
        run = self.run_s(now)
        if run is None or self.time_limit_s is None:
            return None
        return max(0.0, self.time_limit_s - run)


@dataclass(frozen=True, slots=True)
class SlurmNodeInfo:
    """One compute node as sinfo sees it. ``state`` is lower case ("idle", "mixed", "drained", "other:<raw>")."""

    name: str
    state: str
    reason: str = ""
    partitions: tuple[str, ...] = ()
    cpus_total: int = 0
    cpus_alloc: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0
    memory_mb: int = 0

    @property
    def level(self) -> str:
        return node_state_level(self.state)


@dataclass(frozen=True, slots=True)
class SlurmPartition:
    name: str
    default: bool = False
    state: str = "up"
    nodes: tuple[str, ...] = ()
    cpus_total: int = 0
    cpus_alloc: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0
    time_limit_s: int | None = None  # None: unlimited
    jobs_pending: int = 0
    jobs_running: int = 0


@dataclass(frozen=True, slots=True)
class SlurmTotals:
    """The cluster in one line: nodes by state, CPUs and GPUs allocated of total, jobs by group."""

    nodes_by_state: tuple[tuple[str, int], ...] = ()  # most common first
    cpus_total: int = 0
    cpus_alloc: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0
    jobs_running: int = 0
    jobs_pending: int = 0
    jobs_other: int = 0

    @property
    def nodes_total(self) -> int:
        return sum(count for _state, count in self.nodes_by_state)


@dataclass(frozen=True, slots=True)
class SlurmStatus:
    """What the app last knows of Slurm, from the exporter at ``url`` (watched via node ``node``).

    ``collected_at``: when the exporter ran sinfo/squeue for the data shown (None: no data yet).
    ``fetched_at``: when the app last asked. ``error``: what went wrong last, here or on the pod; then
    ``stale`` is true and the lists are the last good ones.
    """

    node: str
    url: str
    nodes: tuple[SlurmNodeInfo, ...] = ()
    partitions: tuple[SlurmPartition, ...] = ()
    jobs: tuple[SlurmJob, ...] = ()
    totals: SlurmTotals = SlurmTotals()
    collected_at: float | None = None
    fetched_at: float = 0.0
    error: str | None = None

    @property
    def has_data(self) -> bool:
        return self.collected_at is not None

    @property
    def stale(self) -> bool:
        return self.error is not None

    def failed(self, error: str, when: float) -> SlurmStatus:
        """The same data, marked stale by ``error``."""
        return SlurmStatus(self.node, self.url, self.nodes, self.partitions, self.jobs, self.totals,
                           self.collected_at, when, error)


def node_state_level(state: str) -> str:
    """ok, busy, warn, crit or other for a node state such as "idle", "drained" or "down*"."""
    base = state.lower().rstrip("*~#!%$@^-+").split("+")[0]
    return _LEVEL_OF_STATE.get(base, "other")


def summarize(nodes: Sequence[SlurmNodeInfo], jobs: Sequence[SlurmJob]) -> SlurmTotals:
    states = Counter(n.state for n in nodes)
    groups = Counter(j.group for j in jobs)
    return SlurmTotals(
        nodes_by_state=tuple(sorted(states.items(), key=lambda item: (-item[1], item[0]))),
        cpus_total=sum(n.cpus_total for n in nodes), cpus_alloc=sum(n.cpus_alloc for n in nodes),
        gpus_total=sum(n.gpus_total for n in nodes), gpus_alloc=sum(n.gpus_alloc for n in nodes),
        jobs_running=groups[RUNNING], jobs_pending=groups[PENDING], jobs_other=groups[OTHER],
    )


def jobs_in_group(jobs: Sequence[SlurmJob], group: str) -> list[SlurmJob]:
    """Jobs of one group (running, pending, other); every job for "all"."""
    return list(jobs) if group == "all" else [j for j in jobs if j.group == group]


def duration_text(seconds: float | None) -> str:
    """'42 s', '5 m', '3 h 20 m', '2 d 4 h'; '' for None."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} m"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def limit_text(seconds: int | None) -> str:
    """A time limit as Slurm writes it: 'UNLIMITED', '30:00', '1-00:00:00'."""
    if seconds is None:
        return "UNLIMITED"
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours or days else f"{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def local_time_text(epoch: float | None, now: float | None = None) -> str:
    """Local time: 'HH:MM:SS' today, 'YYYY-MM-DD HH:MM' on another day; '' for None."""
    if epoch is None:
        return ""
    moment = time.localtime(epoch)
    today = time.localtime(time.time() if now is None else now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def job_time_text(job: SlurmJob, now: float) -> str:
    """'pending for 5 m', 'running for 1 h 2 m', or the state's own word."""
    if job.group == PENDING:
        waited = job.waited_s(now)
        return f"pending for {duration_text(waited)}" if waited is not None else "pending"
    run = job.run_s(now)
    if job.group == RUNNING and run is not None:
        return f"{job.state.lower()} for {duration_text(run)}"
    return job.state.lower()
