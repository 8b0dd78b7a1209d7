"""Tools over sources the app may not have: the Slurm exporter and the pod's log server.

Without the source, each says so plainly, so the model tells the user instead of guessing.
"""

from __future__ import annotations

from typing import Literal

from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.toolkit import Answer, ToolError

SLURM_NOT_CONNECTED = (
    "Slurm is not connected in this app yet (no Slurm exporter configured), so there is no Slurm node, "
    "CPU, GPU allocation or job data. Say so if the question needs it; GPU metrics and alerts are available."
)
LOGS_NOT_CONNECTED = (
    "Service logs are not connected in this app yet (no log server configured), so no vLLM or service log "
    "lines can be read. Say so if the question needs them."
)
MAX_LOG_LINES = 500


async def slurm_status(data: ClusterData) -> Answer:
    """Slurm's view of the cluster: nodes by state (idle, allocated, down...), CPUs and GPUs total and allocated,
    jobs running and pending.
    """
    if data.slurm is None:
        return Answer("Slurm not connected", SLURM_NOT_CONNECTED)
    status = await data.slurm.status()
    return Answer("Slurm status", status)


async def slurm_jobs(data: ClusterData, state: Literal["all", "running", "pending"] = "all",
                     limit: int = 50) -> Answer:
    """Slurm's job queue: job id, user, name, state, nodes, GPUs and run time.

    Args:
        state: only running or pending jobs, or all
        limit: at most this many jobs (1-500)
    """
    if data.slurm is None:
        return Answer("Slurm not connected", SLURM_NOT_CONNECTED)
    jobs = await data.slurm.jobs(state, max(1, min(limit, 500)))
    return Answer(f"{len(jobs)} jobs", {"jobs": jobs} if jobs else f"No {state} jobs.")


async def service_logs(data: ClusterData, service: str, lines: int = 50) -> Answer:
    """The last lines of a service's log on the pod (e.g. vllm, gpu-exporter, slurm-exporter).

    Args:
        service: which service's log
        lines: how many of the last lines (1-500)
    """
    if data.logs is None:
        return Answer("logs not connected", LOGS_NOT_CONNECTED)
    known = list(data.logs.services())
    if service not in known:
        raise ToolError(f"no log for service {service!r}; services with logs: {', '.join(known) or 'none'}")
    tail = await data.logs.tail(service, max(1, min(lines, MAX_LOG_LINES)))
    return Answer(f"{len(tail)} lines of {service}", "\n".join(tail) if tail else f"The {service} log is empty.")
