"""The simulated Slurm cluster (on a test clock) and the rate limit of SharedCollection."""

from __future__ import annotations

from collections import Counter

import pytest

from gpuwatch_pod.slurm_collect import SharedCollection
from gpuwatch_pod.slurm_model import SlurmSnapshot
from gpuwatch_pod.slurm_sim import DRAIN_REASON, SimSlurm
from gpuwatch_pod.slurm_stats import node_counts, resource_totals

T0 = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(sim: SimSlurm, clock: Clock, seconds: int, step: int = 10) -> list[SlurmSnapshot]:
    snaps = []
    for _ in range(seconds // step):
        clock.now += step
        snaps.append(sim.collect())
    return snaps


def test_same_seed_same_cluster() -> None:
    first, second, other = Clock(), Clock(), Clock()
    snaps_a = run(SimSlurm(["n1", "n2"], seed=5, clock=first), first, 600)
    snaps_b = run(SimSlurm(["n1", "n2"], seed=5, clock=second), second, 600)
    snaps_c = run(SimSlurm(["n1", "n2"], seed=6, clock=other), other, 600)
    assert snaps_a[-1].jobs == snaps_b[-1].jobs and snaps_a[-1].nodes == snaps_b[-1].nodes
    assert [s.jobs for s in snaps_a] != [s.jobs for s in snaps_c]


def test_jobs_arrive_wait_run_complete_and_leave() -> None:
    clock = Clock()
    sim = SimSlurm(["node-1", "node-2"], gpus_per_node=8, cpus_per_node=64, seed=1, drained_node="node-3",
                   clock=clock)
    snaps = run(sim, clock, 3 * 3600)
    seen_states = Counter(job.state for snap in snaps for job in snap.jobs)
    reasons = {job.reason for snap in snaps for job in snap.jobs if job.state == "PENDING"}
    assert set(seen_states) == {"PENDING", "RUNNING", "COMPLETING"} and reasons == {"Resources", "Priority"}
    ever = {job.id for snap in snaps for job in snap.jobs}
    assert len(ever) > 50 and not ever <= {job.id for job in snaps[-1].jobs}  # finished jobs leave the queue
    for snap in snaps:
        for node in snap.nodes[:2]:
            held = [j for j in snap.jobs if j.nodes == node.name]
            assert node.gpus_alloc == sum(j.gpus for j in held) <= node.gpus_total == 8
            assert node.cpus_alloc == sum(j.cpus for j in held) <= node.cpus_total == 64
            assert node.state in ("idle", "mixed", "allocated", "completing")
        assert all(j.nodes in ("node-1", "node-2") for j in snap.jobs if j.state != "PENDING")
        assert all(j.nodes == "" and j.start_time is None for j in snap.jobs if j.state == "PENDING")
    busy = [resource_totals(s.nodes).gpus_utilization for s in snaps]
    assert max(busy) == pytest.approx(16 / 24) and min(busy) < max(busy)  # the drained node's 8 never count


def test_the_drained_node() -> None:
    clock = Clock()
    snap = SimSlurm(["node-1"], drained_node="node-2", clock=clock).collect()
    drained = snap.nodes[-1]
    assert (drained.name, drained.state, drained.category, drained.reason) == ("node-2", "drained", "drain",
                                                                             DRAIN_REASON)
    assert (drained.cpus_other, drained.gpus_other, drained.gpus_alloc) == (64, 8, 0)
    assert node_counts(snap)["drain"] == 1
    assert [(p.name, p.default) for p in snap.partitions] == [("gpu", True), ("debug", False)]
    assert snap.collected_at == T0 and snap.ok


def test_a_long_pause_skips_ahead() -> None:
    clock = Clock()
    sim = SimSlurm(["node-1"], clock=clock)
    clock.now += 30 * 24 * 3600
    snap = sim.collect()
    assert snap.collected_at == clock.now
    assert all(job.submit_time is not None and job.submit_time >= clock.now - 3600 for job in snap.jobs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        SimSlurm([])
    with pytest.raises(ValueError, match="at least one GPU"):
        SimSlurm(["n"], gpus_per_node=0)


class CountingSource:
    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> SlurmSnapshot:
        self.calls += 1
        return SlurmSnapshot(T0 + self.calls)


def test_rate_limit_follows_the_clock() -> None:
    clock, source = Clock(0.0), CountingSource()
    shared = SharedCollection(source, min_interval_s=10, clock=clock)
    assert shared.get().collected_at == T0 + 1
    clock.now = 9.9
    assert shared.get().collected_at == T0 + 1 and source.calls == 1
    clock.now = 10.0
    assert shared.get().collected_at == T0 + 2 and source.calls == 2
    with pytest.raises(ValueError, match="cannot be negative"):
        SharedCollection(source, min_interval_s=-1)
