"""GPU counts from Slurm's GRES and TRES strings.

GRES: ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:1(IDX:0,2),gpu:v100:1(IDX:3)``, ``gres:gpu:1`` (22.05
job requests), ``gres/gpu:1`` and ``gres/gpu=1`` (newer), ``(null)``, ``N/A``. TRES: ``cpu=2,mem=4G,
gres/gpu=1,gres/gpu:l40s=1`` where only the untyped ``gres/gpu`` entry is the total.
"""

from __future__ import annotations

import re

_PARENS = re.compile(r"\([^)]*\)")


def gres_gpus(gres: str) -> int:
    """Total GPUs in a GRES string (every ``gpu`` entry summed; one without a count is 1)."""
    total = 0
    for item in _PARENS.sub("", gres).split(","):
        entry = item.strip()
        for prefix in ("gres:", "gres/"):
            entry = entry.removeprefix(prefix)
        parts = entry.replace("=", ":").split(":")
        if parts[0] != "gpu":
            continue
        last = parts[-1]
        total += int(last) if len(parts) > 1 and last.isdigit() else 1
    return total


def tres_gpus(tres: str) -> int | None:
    """The ``gres/gpu=N`` total of a TRES string, None when it has none."""
    for item in tres.split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key == "gres/gpu" and value.isdigit():
            return int(value)
    return None


def job_gpus(tres_alloc: str, per_job: str, per_node: str, per_task: str, num_nodes: int, num_tasks: int) -> int:
    """A job's GPUs: its allocated TRES when they name GPUs, else what it asked for per job, node or task."""
    allocated = tres_gpus(tres_alloc)
    if allocated is not None:
        return allocated
    if job := gres_gpus(per_job):
        return job
    if node := gres_gpus(per_node):
        return node * max(num_nodes, 1)
    return gres_gpus(per_task) * max(num_tasks, 1)
