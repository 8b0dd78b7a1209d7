"""Totals over a Slurm snapshot: nodes by state, CPUs and GPUs, the queue, per partition and per user."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gpuwatch_pod.slurm_model import NODE_CATEGORIES, QUEUE_STATES, SlurmJob, SlurmNode, SlurmSnapshot


@dataclass(frozen=True, slots=True)
class ResourceTotals:
    cpus_alloc: int = 0
    cpus_idle: int = 0
    cpus_other: int = 0
    cpus_total: int = 0
    gpus_alloc: int = 0
    gpus_idle: int = 0
    gpus_other: int = 0
    gpus_total: int = 0

    @property
    def gpus_utilization(self) -> float:
        return self.gpus_alloc / self.gpus_total if self.gpus_total else 0.0


@dataclass(frozen=True, slots=True)
class PartitionStats:
    name: str
    default: bool
    state: str
    time_limit_s: int | None
    nodes: tuple[str, ...]
    resources: ResourceTotals
    jobs_pending: int
    jobs_running: int


@dataclass(frozen=True, slots=True)
class UserStats:
    user: str
    jobs_pending: int = 0
    jobs_running: int = 0
    cpus_running: int = 0


def resource_totals(nodes: tuple[SlurmNode, ...] | list[SlurmNode]) -> ResourceTotals:
    """CPUs and GPUs summed over ``nodes`` (each counted once)."""
    gpus_alloc = sum(n.gpus_alloc for n in nodes)
    gpus_other = sum(n.gpus_other for n in nodes)
    gpus_total = sum(n.gpus_total for n in nodes)
    return ResourceTotals(
        cpus_alloc=sum(n.cpus_alloc for n in nodes), cpus_idle=sum(n.cpus_idle for n in nodes),
        cpus_other=sum(n.cpus_other for n in nodes), cpus_total=sum(n.cpus_total for n in nodes),
        gpus_alloc=gpus_alloc, gpus_other=gpus_other, gpus_total=gpus_total,
        gpus_idle=max(gpus_total - gpus_alloc - gpus_other, 0),
    )


def node_counts(snapshot: SlurmSnapshot) -> dict[str, int]:
    """Nodes per category, every category present (zero when none)."""
    counts = Counter(node.category for node in snapshot.nodes)
    return {category: counts.get(category, 0) for category in NODE_CATEGORIES}


def queue_counts(jobs: tuple[SlurmJob, ...]) -> dict[str, int]:
    """Jobs per queue state, every state present."""
    counts = Counter(job.queue_state for job in jobs)
    return {state: counts.get(state, 0) for state in QUEUE_STATES}


def _job_partitions(job: SlurmJob) -> list[str]:
    """A pending job may name several partitions ("gpu,debug"); it counts in each."""
    return [p for p in job.partition.split(",") if p]


def partition_stats(snapshot: SlurmSnapshot) -> list[PartitionStats]:
    """One entry per partition sinfo listed, then any a node or job names that it did not."""
    known = {p.name: p for p in snapshot.partitions}
    names = list(known)
    for name in [p for n in snapshot.nodes for p in n.partitions] + [p for j in snapshot.jobs
                                                                     for p in _job_partitions(j)]:
        if name not in known and name not in names:
            names.append(name)
    pending: Counter[str] = Counter()
    running: Counter[str] = Counter()
    for job in snapshot.jobs:
        for name in _job_partitions(job):
            if job.state == "PENDING":
                pending[name] += 1
            elif job.state == "RUNNING":
                running[name] += 1
    out = []
    for name in names:
        members = [n for n in snapshot.nodes if name in n.partitions]
        info = known.get(name)
        out.append(PartitionStats(
            name=name, default=info.default if info else False, state=info.state if info else "unknown",
            time_limit_s=info.time_limit_s if info else None, nodes=tuple(n.name for n in members),
            resources=resource_totals(members), jobs_pending=pending[name], jobs_running=running[name],
        ))
    return out


def user_stats(jobs: tuple[SlurmJob, ...]) -> list[UserStats]:
    """Pending and running jobs and running CPUs per user, users in name order."""
    pending: Counter[str] = Counter()
    running: Counter[str] = Counter()
    cpus: Counter[str] = Counter()
    for job in jobs:
        if job.state == "PENDING":
            pending[job.user] += 1
        elif job.state == "RUNNING":
            running[job.user] += 1
            cpus[job.user] += job.cpus
    users = sorted(set(pending) | set(running))
    return [UserStats(u, pending[u], running[u], cpus[u]) for u in users]
