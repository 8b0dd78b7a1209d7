"""The Slurm exporter's payloads: Prometheus text (names as vpenso/prometheus-slurm-exporter) and JSON.

When the snapshot carries an error, /metrics says so (``slurm_exporter_up 0``) and leaves the
node, CPU, GPU, queue, partition and user families out: old numbers are never served as current.
The JSON payloads keep the last good lists with their older ``collected_at`` so a UI can show them stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuwatch_pod.render import escape_label
from gpuwatch_pod.slurm_model import SlurmJob, SlurmNode, SlurmSnapshot
from gpuwatch_pod.slurm_stats import (
    PartitionStats,
    node_counts,
    partition_stats,
    queue_counts,
    resource_totals,
    user_stats,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_TYPE = "application/json"


def _family(lines: list[str], name: str, help_text: str, samples: Iterable[tuple[str, float]],
            kind: str = "gauge") -> None:
    """HELP and TYPE lines, then ``name{labels} value`` per (labels, value)."""
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{labels} {_value(value)}" for labels, value in samples)


def _value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(key: str, value: str) -> str:
    return f'{{{key}="{escape_label(value)}"}}'


def _cluster(lines: list[str], snapshot: SlurmSnapshot) -> None:
    for category, count in node_counts(snapshot).items():
        _family(lines, f"slurm_nodes_{category}", f"Nodes in state {category}", [("", count)])
    totals = resource_totals(snapshot.nodes)
    for kind in ("alloc", "idle", "other", "total"):
        _family(lines, f"slurm_cpus_{kind}", f"CPUs: {kind}", [("", getattr(totals, f"cpus_{kind}"))])
    for kind in ("alloc", "idle", "other", "total"):
        _family(lines, f"slurm_gpus_{kind}", f"GPUs: {kind}", [("", getattr(totals, f"gpus_{kind}"))])
    _family(lines, "slurm_gpus_utilization", "Allocated GPUs / total GPUs (0..1)", [("", totals.gpus_utilization)])
    for state, count in queue_counts(snapshot.jobs).items():
        _family(lines, f"slurm_queue_{state}", f"Jobs in state {state}", [("", count)])


def _partitions(lines: list[str], stats: list[PartitionStats]) -> None:
    labels = [(_label("partition", p.name), p) for p in stats]
    for kind, attr in (("allocated", "alloc"), ("idle", "idle"), ("other", "other"), ("total", "total")):
        _family(lines, f"slurm_partition_cpus_{kind}", f"CPUs of the partition's nodes: {kind}",
                [(lab, getattr(p.resources, f"cpus_{attr}")) for lab, p in labels])
    for kind, attr in (("allocated", "alloc"), ("total", "total")):
        _family(lines, f"slurm_partition_gpus_{kind}", f"GPUs of the partition's nodes: {kind}",
                [(lab, getattr(p.resources, f"gpus_{attr}")) for lab, p in labels])
    _family(lines, "slurm_partition_jobs_pending", "Pending jobs in the partition",
            [(lab, p.jobs_pending) for lab, p in labels])
    _family(lines, "slurm_partition_jobs_running", "Running jobs in the partition",
            [(lab, p.jobs_running) for lab, p in labels])


def _users(lines: list[str], snapshot: SlurmSnapshot) -> None:
    stats = [(_label("user", u.user), u) for u in user_stats(snapshot.jobs)]
    _family(lines, "slurm_user_jobs_pending", "Pending jobs of the user", [(lab, u.jobs_pending) for lab, u in stats])
    _family(lines, "slurm_user_jobs_running", "Running jobs of the user", [(lab, u.jobs_running) for lab, u in stats])
    _family(lines, "slurm_user_cpus_running", "CPUs of the user's running jobs",
            [(lab, u.cpus_running) for lab, u in stats])


def _exporter(lines: list[str], snapshot: SlurmSnapshot) -> None:
    _family(lines, "slurm_exporter_up", "1 when the last collection from Slurm succeeded, else 0",
            [("", 1 if snapshot.ok else 0)])
    _family(lines, "slurm_exporter_collect_errors_total", "Failed or timed-out Slurm commands",
            [(_label("command", cmd), count) for cmd, count in snapshot.collect_errors], kind="counter")
    if snapshot.has_data:
        _family(lines, "slurm_exporter_last_collect_timestamp_seconds",
                "When the numbers were last collected (Unix time)", [("", snapshot.collected_at)])
    _family(lines, "slurm_exporter_collect_duration_seconds", "How long the last collection took",
            [("", round(snapshot.duration_s, 6))])


def render_metrics(snapshot: SlurmSnapshot) -> bytes:
    """The /metrics payload."""
    lines: list[str] = []
    if snapshot.ok:
        _cluster(lines, snapshot)
        _partitions(lines, partition_stats(snapshot))
        _users(lines, snapshot)
    _exporter(lines, snapshot)
    return ("\n".join(lines) + "\n").encode()


def job_record(job: SlurmJob) -> dict[str, Any]:
    return {
        "id": job.id, "name": job.name, "user": job.user, "partition": job.partition, "state": job.state,
        "reason": job.reason, "nodes": job.nodes, "num_nodes": job.num_nodes, "cpus": job.cpus, "gpus": job.gpus,
        "submit_time": job.submit_time, "start_time": job.start_time, "time_limit_s": job.time_limit_s,
    }


def jobs_payload(snapshot: SlurmSnapshot, states: frozenset[str] | None = None, user: str | None = None
                 ) -> dict[str, Any]:
    """The /jobs payload; ``states`` (upper case) and ``user`` filter the list when given."""
    jobs = [j for j in snapshot.jobs if (states is None or j.state in states) and (user is None or j.user == user)]
    return {"collected_at": snapshot.collected_at, "error": snapshot.error, "jobs": [job_record(j) for j in jobs]}


def node_record(node: SlurmNode) -> dict[str, Any]:
    return {
        "name": node.name, "state": node.state, "reason": node.reason, "partitions": list(node.partitions),
        "cpus_total": node.cpus_total, "cpus_alloc": node.cpus_alloc, "gpus_total": node.gpus_total,
        "gpus_alloc": node.gpus_alloc, "memory_mb": node.memory_mb,
    }


def partition_record(stats: PartitionStats) -> dict[str, Any]:
    return {
        "name": stats.name, "default": stats.default, "state": stats.state, "nodes": list(stats.nodes),
        "cpus_total": stats.resources.cpus_total, "cpus_alloc": stats.resources.cpus_alloc,
        "gpus_total": stats.resources.gpus_total, "gpus_alloc": stats.resources.gpus_alloc,
        "time_limit_s": stats.time_limit_s, "jobs_pending": stats.jobs_pending, "jobs_running": stats.jobs_running,
    }


def nodes_payload(snapshot: SlurmSnapshot) -> dict[str, Any]:
    """The /nodes payload."""
    return {
        "collected_at": snapshot.collected_at, "error": snapshot.error,
        "nodes": [node_record(n) for n in snapshot.nodes],
        "partitions": [partition_record(p) for p in partition_stats(snapshot)],
    }
