"""What the Slurm view's tables and texts show: rows of ``Cell`` (text, sort key, colour) and the summary line."""

from __future__ import annotations

import functools
import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gpuwatch_desktop.core.slurm import (
    PENDING,
    RUNNING,
    SlurmJob,
    SlurmNodeInfo,
    SlurmPartition,
    SlurmStatus,
    duration_text,
    job_time_text,
    limit_text,
    local_time_text,
    node_state_level,
)
from gpuwatch_desktop.ui.alerts_rows import Cell
from gpuwatch_desktop.ui.theme import Theme

NODE_HEADERS = ("Node", "State", "GPUs alloc", "CPUs alloc", "Memory (GiB)", "Partitions", "Reason")
NODE_NUMERIC = ("GPUs alloc", "CPUs alloc", "Memory (GiB)")
PARTITION_HEADERS = ("Partition", "State", "Nodes", "GPUs alloc", "CPUs alloc", "Running", "Pending", "Time limit")
PARTITION_NUMERIC = ("Nodes", "GPUs alloc", "CPUs alloc", "Running", "Pending", "Time limit")
JOB_HEADERS = ("Job ID", "Name", "User", "Partition", "State", "Reason", "Nodes", "GPUs", "CPUs", "Submitted",
               "Time", "Time left")
JOB_NUMERIC = ("GPUs", "CPUs", "Time", "Time left")
STATE_FILTERS = ("all", "running", "pending", "other")
ALL_USERS = "All users"
_UNLIMITED_KEY = 1e18  # sorts an unlimited time after every real one


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What the job table shows: text found in any field, a state group, one user (None: all)."""

    text: str = ""
    state: str = "all"
    user: str | None = None

    def accepts(self, job: SlurmJob) -> bool:
        if self.state != "all" and job.group != self.state:
            return False
        if self.user is not None and job.user != self.user:
            return False
        wanted = self.text.strip().lower()
        fields = (job.id, job.name, job.user, job.partition, job.state, job.reason, job.nodes)
        return not wanted or any(wanted in f.lower() for f in fields)


def level_color(theme: Theme, level: str) -> str:
    return {"ok": theme.ok, "busy": theme.accent, "warn": theme.warn, "crit": theme.crit}.get(level, theme.stale)


def job_state_color(theme: Theme, job: SlurmJob) -> str:
    if job.group == PENDING:
        return theme.warn
    if job.state in ("FAILED", "NODE_FAIL", "TIMEOUT", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"):
        return theme.crit
    return theme.ok if job.state == "RUNNING" else theme.muted


def job_id_key(job_id: str) -> float:
    """Job ids sort as numbers: "99" before "123", "123_4" just after "123"."""
    match = re.match(r"(\d+)(?:_\[?(\d+))?", job_id)
    if match is None:
        return -1.0
    return float(match[1]) + (float(match[2]) + 1) / 1e7 if match[2] else float(match[1])


def _fraction(used: int, total: int) -> Cell:
    """"3/8", sorting by the allocated count, then the total."""
    return Cell(f"{used}/{total}", float(used) * 1e6 + min(total, 999_999))


def natural_key(name: str) -> str:
    """Names with numbers sort by the numbers' values: node-2 before node-10."""
    return re.sub(r"\d+", lambda m: m[0].zfill(12), name)


def node_rows(nodes: Sequence[SlurmNodeInfo], theme: Theme) -> list[tuple[Cell, ...]]:
    return [(
        Cell(n.name, natural_key(n.name)), Cell(n.state, color=level_color(theme, n.level)),
        _fraction(n.gpus_alloc, n.gpus_total), _fraction(n.cpus_alloc, n.cpus_total),
        Cell(f"{n.memory_mb / 1024:,.0f}", float(n.memory_mb)),
        Cell(", ".join(n.partitions)), Cell(n.reason),
    ) for n in nodes]


def partition_rows(partitions: Sequence[SlurmPartition], theme: Theme) -> list[tuple[Cell, ...]]:
    return [(
        Cell(p.name + (" (default)" if p.default else ""), p.name),
        Cell(p.state, color=theme.ok if p.state == "up" else theme.crit), Cell(str(len(p.nodes)), float(len(p.nodes))),
        _fraction(p.gpus_alloc, p.gpus_total), _fraction(p.cpus_alloc, p.cpus_total),
        Cell(str(p.jobs_running), float(p.jobs_running)), Cell(str(p.jobs_pending), float(p.jobs_pending)),
        Cell(limit_text(p.time_limit_s), _UNLIMITED_KEY if p.time_limit_s is None else float(p.time_limit_s)),
    ) for p in partitions]


def job_row(job: SlurmJob, now: float, theme: Theme) -> tuple[Cell, ...]:
    """The job's cells; the ones that do not move with the clock are built once per job and day."""
    elapsed = job.waited_s(now) if job.group == PENDING else job.run_s(now) if job.group == RUNNING else None
    left = job.left_s(now)
    today = time.localtime(now)
    return (*_fixed_job_cells(job, theme, (today.tm_year, today.tm_mon, today.tm_mday)),
            Cell(job_time_text(job, now), -1.0 if elapsed is None else elapsed),
            Cell(duration_text(left), _UNLIMITED_KEY if left is None else left))


@functools.lru_cache(maxsize=50_000)
def _fixed_job_cells(job: SlurmJob, theme: Theme, day: tuple[int, int, int]) -> tuple[Cell, ...]:
    """Cells of a job that stay the same all day (the submit time shows its date on other days)."""
    when = time.mktime((*day, 12, 0, 0, 0, 0, -1))  # noon of that day
    return (
        Cell(job.id, job_id_key(job.id)), Cell(job.name), Cell(job.user), Cell(job.partition),
        Cell(job.state, color=job_state_color(theme, job)), Cell(job.reason), Cell(job.nodes),
        Cell(str(job.gpus), float(job.gpus)), Cell(str(job.cpus), float(job.cpus)),
        Cell(local_time_text(job.submit_time, when), job.submit_time or 0.0),
    )


def summary_html(status: SlurmStatus, theme: Theme) -> str:
    """"4 nodes: 2 mixed · 1 idle · 1 drained   CPUs 96/256   GPUs 12/32 (38 %)   Jobs 5 running · 3 pending"."""
    t = status.totals
    states = " · ".join(f'<span style="color:{level_color(theme, node_state_level(s))}">{n} {html.escape(s)}</span>'
                        for s, n in t.nodes_by_state) or "none"
    share = f" ({100 * t.gpus_alloc / t.gpus_total:.0f} %)" if t.gpus_total else ""
    pending = f'<span style="color:{theme.warn}">{t.jobs_pending} pending</span>' if t.jobs_pending else "0 pending"
    gap = "&nbsp;&nbsp;&nbsp;&nbsp;"
    return (f"<b>{t.nodes_total} nodes:</b> {states}{gap}<b>CPUs</b> {t.cpus_alloc}/{t.cpus_total}{gap}"
            f"<b>GPUs</b> {t.gpus_alloc}/{t.gpus_total}{share}{gap}<b>Jobs</b> {t.jobs_running} running · {pending}")


def freshness_text(status: SlurmStatus, now: float) -> str:
    """'updated 12:03:04 (8 s ago)' from when Slurm collected the data shown."""
    if status.collected_at is None:
        return "no data yet"
    return f"updated {local_time_text(status.collected_at, now)} ({duration_text(now - status.collected_at)} ago)"


def banner_text(status: SlurmStatus, now: float) -> str:
    """What went wrong and how old the data shown is ('' when all is well)."""
    if status.error is None:
        return ""
    if not status.has_data:
        return f"Cannot read Slurm: {status.error}"
    return (f"Stale: showing the data Slurm collected at {local_time_text(status.collected_at, now)} "
            f"({duration_text(now - (status.collected_at or now))} ago). Latest update failed: {status.error}")


def job_detail_html(job: SlurmJob, now: float) -> str:
    """Every field of a job; times as local time with how long ago."""
    def since(epoch: float | None) -> str:
        return f"{local_time_text(epoch, now)} ({duration_text(now - epoch)} ago)" if epoch is not None else "—"

    rows = [("Job ID", job.id), ("Name", job.name), ("User", job.user), ("Partition", job.partition),
            ("State", f"{job.state} — {job_time_text(job, now)}"), ("Reason", job.reason or "—"),
            ("Nodes", f"{job.nodes or '—'} ({job.num_nodes} node{'s' if job.num_nodes != 1 else ''})"),
            ("GPUs", str(job.gpus)), ("CPUs", str(job.cpus)), ("Submitted", since(job.submit_time)),
            ("Started", since(job.start_time)), ("Time limit", limit_text(job.time_limit_s))]
    waited = job.waited_s(now)
    if waited is not None and job.group != PENDING:
        rows.append(("Waited", duration_text(waited)))
    left = job.left_s(now)
    if left is not None:
        rows.append(("Time left", duration_text(left)))
    cells = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"
