"""A simulated Slurm cluster for the demo, served by the same exporter code as a real one.

Partitions ``gpu`` (the default) and ``debug`` over every node. Jobs arrive at random (users,
names and sizes drawn from a seeded generator), wait while nothing fits (reason ``Resources`` for
the first blocked job, ``Priority`` behind it), run for tens of seconds to a few minutes, complete
for a few seconds and leave the queue. One optional extra node is drained with reason "GPU XID 79".
Time is the wall clock (injectable); the cluster starts with a few minutes of history behind it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpuwatch_pod.slurm_model import SlurmJob, SlurmNode, SlurmPartition, SlurmSnapshot

DRAIN_REASON = "GPU XID 79"
USERS = ("alice", "bob", "chen", "dana", "eve")
GPU_JOB_NAMES = ("train-llama3-8b", "finetune-lora", "pretrain-gpt-1b", "sweep-lr", "eval-mmlu", "inference-batch")
DEBUG_JOB_NAMES = ("bench-nccl", "preprocess-tokens", "jupyter", "smoke-test")
MEMORY_MB = 1_031_000
WARMUP_S = 300  # history simulated before the first snapshot
MAX_CATCH_UP_S = 3600  # after a longer pause the cluster skips ahead instead of replaying every second
LOAD = 0.7  # offered GPU work / GPUs: busy, with a few jobs waiting now and then
MEAN_JOB_GPU_S = 410  # mean GPUs x seconds of one arriving job (see _new_job)
MAX_PENDING = 8  # users stop submitting while this many jobs wait
COMPLETING_S = 3
GPU_LIMITS_S = (3600, 4 * 3600, 24 * 3600)
DEBUG_LIMIT_S = 1800


@dataclass(slots=True)
class _Job:
    """A job's mutable life in the simulation."""

    job_id: int
    name: str
    user: str
    partition: str
    cpus: int
    gpus: int
    run_s: int
    time_limit_s: int
    submit_time: float
    state: str = "PENDING"
    reason: str = "Priority"
    node: str = ""
    start_time: float | None = None
    leaves_at: float = 0.0  # when RUNNING ends (then COMPLETING), or when COMPLETING ends

    def snapshot(self) -> SlurmJob:
        return SlurmJob(
            id=str(self.job_id), name=self.name, user=self.user, partition=self.partition, state=self.state,
            reason=self.reason if self.state == "PENDING" else "", nodes=self.node,
            num_nodes=1, cpus=self.cpus, gpus=self.gpus, submit_time=self.submit_time,
            start_time=self.start_time, time_limit_s=self.time_limit_s,
        )


class SimSlurm:
    """A :class:`~gpuwatch_pod.slurm_model.SlurmSource` over a simulated cluster of ``node_names``."""

    def __init__(
        self,
        node_names: Sequence[str],
        gpus_per_node: int = 8,
        cpus_per_node: int = 64,
        seed: int = 0,
        drained_node: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not node_names:
            raise ValueError("a simulated Slurm cluster needs at least one node")
        if gpus_per_node < 1 or cpus_per_node < gpus_per_node:
            raise ValueError("each node needs at least one GPU and at least as many CPUs as GPUs")
        self.node_names = tuple(node_names)
        self.drained_node = drained_node
        self.gpus_per_node = gpus_per_node
        self.cpus_per_node = cpus_per_node
        self._rng = random.Random(seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: list[_Job] = []
        self._next_id = 1000
        self._arrival_probability = min(LOAD * gpus_per_node * len(self.node_names) / MEAN_JOB_GPU_S, 0.9)
        self._now = float(int(clock())) - WARMUP_S
        self._advance(self._now + WARMUP_S)

    def collect(self) -> SlurmSnapshot:
        started = time.monotonic()
        with self._lock:
            now = self._clock()
            self._advance(now)
            nodes = tuple(self._node(name) for name in self._all_nodes())
            jobs = tuple(job.snapshot() for job in self._jobs)
        return SlurmSnapshot(now, nodes, self._partitions(), jobs, duration_s=time.monotonic() - started)

    def _all_nodes(self) -> list[str]:
        return [*self.node_names, *([self.drained_node] if self.drained_node else [])]

    def _partitions(self) -> tuple[SlurmPartition, ...]:
        return (SlurmPartition("gpu", True, "up", GPU_LIMITS_S[-1]),
                SlurmPartition("debug", False, "up", DEBUG_LIMIT_S))

    def _used(self, name: str) -> tuple[int, int]:
        """(CPUs, GPUs) held on ``name`` by running and completing jobs."""
        held = [job for job in self._jobs if job.node == name]
        return sum(job.cpus for job in held), sum(job.gpus for job in held)

    def _node(self, name: str) -> SlurmNode:
        cpus, gpus = self.cpus_per_node, self.gpus_per_node
        if name == self.drained_node:
            return SlurmNode(name, "drained", DRAIN_REASON, ("gpu", "debug"), cpus, 0, 0, cpus, gpus, 0, MEMORY_MB)
        cpus_used, gpus_used = self._used(name)
        completing = any(job.node == name and job.state == "COMPLETING" for job in self._jobs)
        if completing:
            state = "completing"
        elif cpus_used >= cpus:
            state = "allocated"
        else:
            state = "mixed" if cpus_used else "idle"
        return SlurmNode(name, state, "", ("gpu", "debug"), cpus, cpus_used, cpus - cpus_used, 0, gpus, gpus_used,
                         MEMORY_MB)

    def _advance(self, now: float) -> None:
        """Replay every simulated second up to ``now``."""
        if now - self._now > MAX_CATCH_UP_S:
            self._now = now - MAX_CATCH_UP_S
        while self._now + 1 <= now:
            self._now += 1
            self._step(self._now)

    def _step(self, now: float) -> None:
        for job in list(self._jobs):
            if job.state == "RUNNING" and now >= job.leaves_at:
                job.state, job.leaves_at = "COMPLETING", now + COMPLETING_S
            elif job.state == "COMPLETING" and now >= job.leaves_at:
                self._jobs.remove(job)
        pending = sum(job.state == "PENDING" for job in self._jobs)
        if pending < MAX_PENDING and self._rng.random() < self._arrival_probability:
            self._jobs.append(self._new_job(now))
        self._schedule(now)

    def _new_job(self, now: float) -> _Job:
        rng = self._rng
        self._next_id += 1
        if rng.random() < 0.8:
            gpus = min(rng.choice((1, 1, 2, 2, 4, 8)), self.gpus_per_node)
            return _Job(self._next_id, rng.choice(GPU_JOB_NAMES), rng.choice(USERS), "gpu",
                        cpus=gpus * (self.cpus_per_node // self.gpus_per_node), gpus=gpus,
                        run_s=rng.randint(40, 300), time_limit_s=rng.choice(GPU_LIMITS_S), submit_time=now)
        gpus = rng.choice((0, 1))
        return _Job(self._next_id, rng.choice(DEBUG_JOB_NAMES), rng.choice(USERS), "debug",
                    cpus=rng.choice((2, 4, 8)), gpus=gpus, run_s=rng.randint(10, 60), time_limit_s=DEBUG_LIMIT_S,
                    submit_time=now)

    def _schedule(self, now: float) -> None:
        """First come first served: a job that fits starts; the first that does not waits for Resources,
        everything behind it for Priority, except debug jobs that fit (backfill)."""
        blocked = False
        for job in self._jobs:
            if job.state != "PENDING":
                continue
            # Behind a blocked job only short debug jobs backfill, so big jobs are not starved.
            node = None if blocked and job.partition != "debug" else self._place(job)
            if node is None:
                job.reason = "Priority" if blocked else "Resources"
                blocked = True
                continue
            job.state, job.node, job.reason = "RUNNING", node, ""
            job.start_time, job.leaves_at = now, now + job.run_s

    def _place(self, job: _Job) -> str | None:
        """The node where ``job`` fits with the fewest GPUs left over (best fit), or None."""
        best: tuple[int, str] | None = None
        for name in self.node_names:
            cpus_used, gpus_used = self._used(name)
            if cpus_used + job.cpus > self.cpus_per_node or gpus_used + job.gpus > self.gpus_per_node:
                continue
            left = self.gpus_per_node - gpus_used - job.gpus
            if best is None or left < best[0]:
                best = (left, name)
        return None if best is None else best[1]
