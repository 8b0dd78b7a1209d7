"""slurm_status and slurm_jobs as the model gets them: the real SlurmService over the real pod Slurm exporter
serving the simulated cluster (frozen clock), run through the agent's ToolRunner."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gpuwatch_desktop.agent.calls import Call, Outcome, ToolRunner
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.slurm_service import SlurmService
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_pod.slurm_exporter import SlurmExporter
from gpuwatch_pod.slurm_sim import SimSlurm
from tests.integration.slurm_support import BreakableSlurm, serving


@pytest.fixture
def source() -> BreakableSlurm:
    """The simulation frozen at the test's start: every collection alike, ages measured from now."""
    now = time.time()
    return BreakableSlurm(SimSlurm(["node-1", "node-2"], seed=11, drained_node="node-3", clock=lambda: now))


@pytest.fixture
def exporter(source: BreakableSlurm) -> Iterator[SlurmExporter]:
    with serving(source) as running:
        yield running


def call(url: str | None, name: str, before: Any = None, **arguments: Any) -> Outcome:
    """One tool call as the agent loop makes it, over a service watching ``url`` (None: no Slurm URL)."""
    async def go() -> Outcome:
        service = SlurmService(interval_s=3600)
        await service.set_nodes([NodeConfig("head", "http://127.0.0.1:9/metrics", slurm_url=url or "")])
        try:
            if before is not None:
                await service.refresh()
                before()
                await service.refresh()
            runner = ToolRunner(default_tools(), AppClusterData(ClusterState(), slurm=service))
            return await runner.one(Call("c1", name, json.dumps(arguments)))
        finally:
            await service.aclose()

    return asyncio.run(go())


def value(outcome: Outcome) -> Any:
    assert outcome.ok, outcome.result
    return json.loads(outcome.result)


def test_slurm_status_gives_totals_partitions_and_the_drained_node(exporter: SlurmExporter,
                                                                  source: BreakableSlurm) -> None:
    outcome = call(exporter.url, "slurm_status")
    status = value(outcome)
    truth = source.sim.collect()
    running = sum(j.state in ("RUNNING", "COMPLETING") for j in truth.jobs)
    pending = sum(j.state == "PENDING" for j in truth.jobs)
    gpus_alloc = sum(n.gpus_alloc for n in truth.nodes)
    assert outcome.summary == f"3 nodes, GPUs {gpus_alloc}/24, {running} running, {pending} pending"
    assert status["exporter"] == exporter.url and "warning" not in status
    assert re.fullmatch(r"collected by Slurm \d s ago", status["as_of"])
    assert sum(status["nodes_by_state"].values()) == 3 and status["nodes_by_state"]["drained"] == 1
    assert status["gpus"] == {"allocated": gpus_alloc, "total": 24}
    assert status["cpus"]["total"] == 192
    assert status["jobs"] == {"running": running, "pending": pending, "other": len(truth.jobs) - running - pending}
    assert status["nodes_needing_attention"] == [{"name": "node-3", "state": "drained", "reason": "GPU XID 79"}]
    gpu = status["partitions"][0]
    assert (gpu["name"], gpu["default"], gpu["time_limit"], gpu["nodes"]) == ("gpu", True, "1-00:00:00", 3)
    assert [n["name"] for n in status["nodes"]] == ["node-1", "node-2", "node-3"]


def test_slurm_jobs_lists_pending_jobs_with_their_reason_and_wait(exporter: SlurmExporter,
                                                                  source: BreakableSlurm) -> None:
    truth = [j for j in source.sim.collect().jobs if j.state == "PENDING"]
    assert truth, "the seeded simulation has jobs waiting"
    jobs = value(call(exporter.url, "slurm_jobs", state="pending"))
    assert [(j["id"], j["state"], j["reason"], j["user"]) for j in jobs["jobs"]] == [
        (j.id, "PENDING", j.reason, j.user) for j in truth]
    first = jobs["jobs"][0]
    assert first["time"].startswith("pending for ") and first["nodes"] is None and "time_left" not in first
    limited = call(exporter.url, "slurm_jobs", state="all", limit=2)
    assert limited.summary == "2 all jobs"
    shown = value(limited)
    assert len(shown["jobs"]) == 2 and shown["shown"] == f"the first 2 of {len(source.sim.collect().jobs)} all jobs"
    running = value(call(exporter.url, "slurm_jobs", state="running"))["jobs"]
    assert all(j["time"].startswith(("running for", "completing for")) and "time_left" in j for j in running)


def test_stale_data_comes_with_a_warning(exporter: SlurmExporter, source: BreakableSlurm) -> None:
    def fail() -> None:
        source.failure = "squeue timed out after 10 s"

    outcome = call(exporter.url, "slurm_status", before=fail)
    assert outcome.summary.endswith("(stale)")
    warning = value(outcome)["warning"]
    assert warning.startswith("STALE: these are the last good values, collected ")
    assert warning.endswith("the latest update failed: the Slurm exporter reports: squeue timed out after 10 s. "
                            "Tell the user the data may be out of date.")


def test_no_data_at_all_is_an_error_for_the_model(refused_url: str) -> None:
    outcome = call(refused_url.removesuffix("/metrics"), "slurm_jobs")
    assert not outcome.ok
    assert outcome.result.startswith("Error: slurm_jobs: no Slurm data yet: cannot connect to the Slurm exporter at ")


def test_without_a_slurm_url_the_tools_say_slurm_is_not_connected() -> None:
    outcome = call(None, "slurm_status")
    assert outcome.ok and outcome.summary == "Slurm not connected"
    assert outcome.result.endswith("adds the head node's Slurm exporter URL (http://host:9341) in Settings → Nodes.")
