"""Tools over sources the app may not have: the Slurm exporter and the pod's log server.

Without the source, each says so plainly, so the model tells the user instead of guessing.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.toolkit import Answer, ToolError
from gpuwatch_desktop.core.slurm import (
    SlurmJob,
    SlurmNodeInfo,
    SlurmPartition,
    SlurmStatus,
    duration_text,
    job_time_text,
    jobs_in_group,
    limit_text,
)

SLURM_NOT_CONNECTED = (
    "Slurm is not connected in this app yet (no Slurm exporter configured), so there is no Slurm node, "
    "CPU, GPU allocation or job data. Say so if the question needs it; GPU metrics and alerts are available. "
    "To connect it, the user adds the head node's Slurm exporter URL (http://host:9341) in Settings → Nodes."
)
LOGS_NOT_CONNECTED = (
    "Service logs are not connected in this app yet (no log server configured), so no vLLM or service log "
    "lines can be read. Say so if the question needs them."
)
MAX_LOG_LINES = 500
MAX_JOBS = 500
MAX_NODES = 200  # per-node rows sent for slurm_status; the totals cover every node


async def slurm_status(data: ClusterData) -> Answer:
    """Slurm's view of the cluster: nodes by state (idle, allocated, down...), CPUs and GPUs total and allocated,
    jobs running and pending, partitions, and nodes that are drained or down with Slurm's reason.
    """
    if data.slurm is None or not data.slurm.connected():
        return Answer("Slurm not connected", SLURM_NOT_CONNECTED)
    status = await data.slurm.status()
    totals = status.totals
    summary = (f"{totals.nodes_total} nodes, GPUs {totals.gpus_alloc}/{totals.gpus_total}, "
               f"{totals.jobs_running} running, {totals.jobs_pending} pending" + (" (stale)" if status.stale else ""))
    return Answer(summary, slurm_status_value(status, time.time()))


async def slurm_jobs(data: ClusterData, state: Literal["all", "running", "pending", "other"] = "all",
                     limit: int = 50) -> Answer:
    """Slurm's job queue: job id, user, name, state, pending reason, nodes, GPUs, CPUs, run or wait time and
    time left.

    Args:
        state: only running (incl. completing), pending or other (suspended, failed, completed...) jobs, or all
        limit: at most this many jobs (1-500)
    """
    if data.slurm is None or not data.slurm.connected():
        return Answer("Slurm not connected", SLURM_NOT_CONNECTED)
    limit = max(1, min(limit, MAX_JOBS))
    status = await data.slurm.status()
    jobs = await data.slurm.jobs(state, limit)
    now = time.time()
    value: dict[str, Any] = {"as_of": _as_of(status, now)}
    if status.stale:
        value["warning"] = _stale_warning(status, now)
    in_state = len(jobs_in_group(status.jobs, state))
    if in_state > len(jobs):
        value["shown"] = f"the first {len(jobs)} of {in_state} {state} jobs"
    value["jobs"] = [slurm_job_row(job, now) for job in jobs] or f"No {state} jobs."
    return Answer(f"{len(jobs)} {state} jobs" + (" (stale)" if status.stale else ""), value)


def slurm_status_value(status: SlurmStatus, now: float) -> dict[str, Any]:
    """What the model is sent for ``slurm_status``: totals first, then partitions and nodes."""
    totals = status.totals
    value: dict[str, Any] = {"exporter": status.url, "as_of": _as_of(status, now)}
    if status.stale:
        value["warning"] = _stale_warning(status, now)
    value |= {
        "nodes_by_state": dict(totals.nodes_by_state),
        "cpus": {"allocated": totals.cpus_alloc, "total": totals.cpus_total},
        "gpus": {"allocated": totals.gpus_alloc, "total": totals.gpus_total},
        "jobs": {"running": totals.jobs_running, "pending": totals.jobs_pending, "other": totals.jobs_other},
        "nodes_needing_attention": [{"name": n.name, "state": n.state, "reason": n.reason}
                                    for n in status.nodes if n.level in ("warn", "crit", "other")],
        "partitions": [_partition_row(p) for p in status.partitions],
        "nodes": [_node_row(n) for n in status.nodes[:MAX_NODES]],
    }
    if len(status.nodes) > MAX_NODES:
        value["nodes_shown"] = f"the first {MAX_NODES} of {len(status.nodes)}"
    return value


def slurm_job_row(job: SlurmJob, now: float) -> dict[str, Any]:
    row: dict[str, Any] = {"id": job.id, "user": job.user, "name": job.name, "partition": job.partition,
                           "state": job.state}
    if job.reason:
        row["reason"] = job.reason
    row |= {"nodes": job.nodes or None, "gpus": job.gpus, "cpus": job.cpus, "time": job_time_text(job, now)}
    left = job.left_s(now)
    if left is not None:
        row["time_left"] = duration_text(left)
    return row


def _partition_row(p: SlurmPartition) -> dict[str, Any]:
    return {"name": p.name, "default": p.default, "state": p.state, "nodes": len(p.nodes),
            "gpus_allocated": f"{p.gpus_alloc}/{p.gpus_total}", "cpus_allocated": f"{p.cpus_alloc}/{p.cpus_total}",
            "jobs_running": p.jobs_running, "jobs_pending": p.jobs_pending, "time_limit": limit_text(p.time_limit_s)}


def _node_row(n: SlurmNodeInfo) -> dict[str, Any]:
    row: dict[str, Any] = {"name": n.name, "state": n.state, "gpus_allocated": f"{n.gpus_alloc}/{n.gpus_total}",
                           "cpus_allocated": f"{n.cpus_alloc}/{n.cpus_total}", "partitions": ",".join(n.partitions)}
    if n.reason:
        row["reason"] = n.reason
    return row


def _as_of(status: SlurmStatus, now: float) -> str:
    if status.collected_at is None:
        return "no data"
    return f"collected by Slurm {duration_text(now - status.collected_at)} ago"


def _stale_warning(status: SlurmStatus, now: float) -> str:
    when = f", collected {duration_text(now - status.collected_at)} ago" if status.collected_at else ""
    return (f"STALE: these are the last good values{when}; the latest update failed: {status.error}. "
            "Tell the user the data may be out of date.")


async def service_logs(data: ClusterData, service: str, lines: int = 50) -> Answer:
    """The last lines of a service's log on the pods (e.g. vllm, slurmctld, gpu-exporter, slurm-exporter).

    The head node's logs go by their plain names (vllm, slurmctld, ...); other nodes' as node/service
    (e.g. node-2/slurmd). An unknown name gets the list of logs there are.

    Args:
        service: which service's log, e.g. vllm or node-2/slurmd
        lines: how many of the last lines (1-500)
    """
    if data.logs is None:
        return Answer("logs not connected", LOGS_NOT_CONNECTED)
    known = list(data.logs.services())
    if service not in known:
        raise ToolError(f"no log for service {service!r}; services with logs: {', '.join(known) or 'none'}")
    tail = await data.logs.tail(service, max(1, min(lines, MAX_LOG_LINES)))
    return Answer(f"{len(tail)} lines of {service}", "\n".join(tail) if tail else f"The {service} log is empty.")
