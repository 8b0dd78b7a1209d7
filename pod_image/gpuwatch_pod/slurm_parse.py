"""Parsers for sinfo and squeue output: ``--json`` (Slurm 22.05 and the newer 23.x/24.x shapes) and text.

The text formats are the ones :data:`SINFO_NODE_FIELDS`, :data:`SINFO_PARTITION_FORMAT` and
:data:`SQUEUE_FIELDS` ask for. Every parser raises :class:`SlurmParseError` (a ValueError) with a
readable message for output it cannot read; unknown node states become ``other:<raw>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gpuwatch_pod.slurm_gres import gres_gpus, job_gpus
from gpuwatch_pod.slurm_model import STATE_CATEGORY, UNUSABLE_CATEGORIES, SlurmJob, SlurmNode, SlurmPartition

# sinfo -N -h -O <these joined by ",">: one row per node and partition, "|" between fields, reason last.
SINFO_NODE_FIELDS = ("NodeList", "Partition", "Available", "Time", "StateLong", "CPUsState", "Gres",
                     "GresUsed", "Memory", "Reason")
SINFO_PARTITION_FORMAT = "%P|%a|%l"  # sinfo -h -o: one row per partition
# squeue -h -O <these joined by ",">: one row per job (pending arrays as one row), the name last.
SQUEUE_FIELDS = ("JobArrayID", "UserName", "Partition", "State", "Reason", "NodeList", "NumNodes", "NumCPUs",
                 "NumTasks", "tres-alloc", "tres-per-job", "tres-per-node", "tres-per-task", "SubmitTime",
                 "StartTime", "TimeLimit", "Name")
NO_VALUE = 0xFFFFFFFE  # Slurm's NO_VAL / INFINITE sentinels start here
_UNLIMITED = frozenset({"unlimited", "infinite", "n/a", "none", "not_set", "invalid", "partition_limit", ""})
_STATE_SUFFIXES = "*~#!%$@^-"
_STATE_ALIASES = {
    "alloc": "allocated", "mix": "mixed", "drng": "draining", "drain": "drained", "comp": "completing",
    "resv": "reserved", "failg": "failing", "err": "error", "maintenance": "maint",
}
_BUSY = frozenset({"allocated", "mixed", "completing"})


class SlurmParseError(ValueError):
    """Output we could not read."""


class SlurmReportedError(SlurmParseError):
    """Readable JSON whose ``errors`` list says the command failed."""


def format_fields(fields: Sequence[str]) -> str:
    """``-O`` argument: every field unpadded (width 0) and followed by "|" except the last."""
    return ",".join(f"{name}:0|" for name in fields[:-1]) + f",{fields[-1]}:0"


def number(value: Any) -> float | None:
    """A JSON number, or the 23.x+ ``{"set", "infinite", "number"}`` object; None when unset/infinite."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return None if value >= NO_VALUE else float(value)


def whole(value: Any, default: int = 0) -> int:
    got = number(value)
    return default if got is None else int(got)


def epoch(value: Any) -> float | None:
    got = number(value)
    return got if got else None


def duration_s(text: str) -> int | None:
    """``[D-][[H:]M:]S`` as Slurm prints time limits, in seconds; None for UNLIMITED and the like."""
    raw = text.strip().lower()
    if raw in _UNLIMITED:
        return None
    days, _, rest = raw.rpartition("-")
    parts = rest.split(":")
    if not all(p.isdigit() for p in parts) or len(parts) > 3 or (days and not days.isdigit()):
        raise SlurmParseError(f"not a Slurm time limit: {text!r}")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    if len(parts) == 1:
        seconds *= 60  # a lone number is minutes
    return seconds + int(days or 0) * 86400


def text_time(text: str) -> float | None:
    """Local ``YYYY-MM-DDTHH:MM:SS`` (SLURM_TIME_FORMAT=standard) as epoch seconds; None for N/A."""
    raw = text.strip()
    if raw.lower() in {"n/a", "unknown", "none", "", "0"}:
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError as exc:
        raise SlurmParseError(f"not a Slurm time: {text!r}") from exc


def node_state(tokens: Sequence[str], raw: str) -> str:
    """The sinfo-style state from a base state and flags (``["mixed", "drain"]``); unknown -> ``other:<raw>``."""
    words = [_STATE_ALIASES.get(w, w) for w in (t.strip().lower().rstrip(_STATE_SUFFIXES) for t in tokens) if w]
    if not words:
        return f"other:{raw or 'unknown'}"
    base, flags = words[0], set(words[1:])
    if base in ("drained", "draining"):
        return base
    if flags & {"drained", "draining"}:
        return "draining" if base in _BUSY else "drained"
    if "fail" in flags or "failing" in flags:
        return "failing" if base in _BUSY else "fail"
    for flag in ("maint", "reserved", "completing"):
        if flag in flags and base != "down":
            return flag
    return base if base in STATE_CATEGORY else f"other:{raw}"


def text_node_state(raw: str) -> str:
    """A sinfo ``StateLong``/``%T`` value: ``idle``, ``mixed-``, ``down*``, ``idle+drain``, ``drng``..."""
    return node_state(raw.split("+"), raw.strip())


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SlurmParseError(f"{what} did not print JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise SlurmParseError(f"{what} printed JSON that is not an object")
    listed = data.get("errors") or []
    if not isinstance(listed, list):
        raise SlurmParseError(f"{what} printed an 'errors' field that is not a list")
    errors = [e for e in listed if e]
    if errors:
        first = errors[0]
        detail = first.get("description") or first.get("error") if isinstance(first, dict) else first
        raise SlurmReportedError(f"{what} reported an error: {detail}")
    return data


def _cpus_split(state: str, total: int, alloc: int) -> tuple[int, int]:
    """(idle, other) CPUs as sinfo's A/I/O/T counts them: free CPUs of a node that cannot take work are 'other'."""
    free = max(total - alloc, 0)
    return (0, free) if STATE_CATEGORY.get(state, "other") in UNUSABLE_CATEGORIES else (free, 0)


def _reason(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("description", "")
    text = str(value or "").strip()
    return "" if text.lower() in ("none", "(null)") else text


def _flat_node(item: Mapping[str, Any]) -> SlurmNode:
    """One element of 22.05/23.02 ``nodes``: state "mixed" + state_flags, or a list ["MIXED", "DRAIN"]."""
    raw_state = item.get("state")
    tokens = list(raw_state) if isinstance(raw_state, list) else [str(raw_state or "")]
    tokens += [str(flag) for flag in item.get("state_flags") or ()]
    state = node_state(tokens, "+".join(t.lower() for t in tokens))
    total, alloc = whole(item.get("cpus")), whole(item.get("alloc_cpus"))
    idle, other = _cpus_split(state, total, alloc)
    return SlurmNode(
        name=str(item["name"]), state=state, reason=_reason(item.get("reason")),
        partitions=tuple(str(p) for p in item.get("partitions") or ()),
        cpus_total=total, cpus_alloc=alloc, cpus_idle=idle, cpus_other=other,
        gpus_total=gres_gpus(str(item.get("gres") or "")), gpus_alloc=gres_gpus(str(item.get("gres_used") or "")),
        memory_mb=whole(item.get("real_memory")),
    )


def _record_nodes(record: Mapping[str, Any]) -> list[SlurmNode]:
    """One element of 23.11+ ``sinfo``: a group of nodes of one partition, CPU counts summed over the group."""
    names = [str(n) for n in (record.get("nodes") or {}).get("nodes") or ()]
    tokens = [str(t) for t in (record.get("node") or {}).get("state") or ()]
    state = node_state(tokens, "+".join(t.lower() for t in tokens))
    cpus, gres = record.get("cpus") or {}, record.get("gres") or {}
    partition = str((record.get("partition") or {}).get("name") or "")
    share = max(len(names), 1)
    return [
        SlurmNode(
            name=name, state=state, reason=_reason(record.get("reason")), partitions=(partition,) if partition else (),
            cpus_total=whole(cpus.get("total")) // share, cpus_alloc=whole(cpus.get("allocated")) // share,
            cpus_idle=whole(cpus.get("idle")) // share, cpus_other=whole(cpus.get("other")) // share,
            gpus_total=gres_gpus(str(gres.get("total") or "")), gpus_alloc=gres_gpus(str(gres.get("used") or "")),
            memory_mb=whole((record.get("memory") or {}).get("maximum")),
        )
        for name in names
    ]


def merge_nodes(rows: Iterable[SlurmNode]) -> tuple[SlurmNode, ...]:
    """One node per name (first row wins) with the partitions of all its rows, in order."""
    merged: dict[str, SlurmNode] = {}
    for row in rows:
        seen = merged.get(row.name)
        if seen is None:
            merged[row.name] = row
        else:
            extra = tuple(p for p in row.partitions if p not in seen.partitions)
            merged[row.name] = _with_partitions(seen, seen.partitions + extra)
    return tuple(merged.values())


def _with_partitions(node: SlurmNode, partitions: tuple[str, ...]) -> SlurmNode:
    return SlurmNode(node.name, node.state, node.reason, partitions, node.cpus_total, node.cpus_alloc,
                     node.cpus_idle, node.cpus_other, node.gpus_total, node.gpus_alloc, node.memory_mb)


def parse_sinfo_json(text: str) -> tuple[SlurmNode, ...]:
    """``sinfo --json``: the ``nodes`` list (22.05, 23.02) or the ``sinfo`` records (23.11 and later)."""
    data = _json(text, "sinfo --json")
    try:
        if isinstance(data.get("nodes"), list):
            return merge_nodes(_flat_node(item) for item in data["nodes"])
        if isinstance(data.get("sinfo"), list):
            return merge_nodes(node for record in data["sinfo"] for node in _record_nodes(record))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SlurmParseError(f"sinfo --json: a node entry is missing or has a bad field ({exc!r})") from exc
    raise SlurmParseError("sinfo --json printed neither a 'nodes' nor a 'sinfo' list")


def _rows(text: str, count: int, what: str) -> list[list[str]]:
    """Split "|"-separated lines into ``count`` fields; the last field may itself contain "|"."""
    rows = []
    for number_, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|", count - 1)]
        if len(fields) != count:
            raise SlurmParseError(f"{what} line {number_} has {len(fields)} fields, expected {count}: {line[:200]!r}")
        rows.append(fields)
    return rows


def _text_int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_partitions_text(text: str) -> tuple[SlurmPartition, ...]:
    """``sinfo -h -o "%P|%a|%l"``: name (``*`` marks the default), availability, time limit."""
    out: dict[str, SlurmPartition] = {}
    for name, avail, limit in _rows(text, 3, "sinfo partitions"):
        clean = name.rstrip("*")
        out.setdefault(clean, SlurmPartition(clean, name.endswith("*"), avail.lower(), duration_s(limit)))
    return tuple(out.values())


def parse_sinfo_text(text: str) -> tuple[tuple[SlurmNode, ...], tuple[SlurmPartition, ...]]:
    """``sinfo -N -h -O`` with :data:`SINFO_NODE_FIELDS`: nodes and the partitions they are in."""
    nodes: list[SlurmNode] = []
    partitions: dict[str, SlurmPartition] = {}
    for name, part, avail, limit, state_raw, cpus, gres, gres_used, memory, reason in _rows(
        text, len(SINFO_NODE_FIELDS), "sinfo"
    ):
        counts = cpus.split("/")
        if len(counts) != 4 or not all(c.isdigit() for c in counts):
            raise SlurmParseError(f"sinfo: CPU counts for {name} are not A/I/O/T: {cpus!r}")
        alloc, idle, other, total = (int(c) for c in counts)
        clean = part.rstrip("*")
        if clean:
            partitions.setdefault(clean, SlurmPartition(clean, part.endswith("*"), avail.lower(), duration_s(limit)))
        nodes.append(SlurmNode(
            name=name, state=text_node_state(state_raw), reason=_reason(reason),
            partitions=(clean,) if clean else (), cpus_total=total, cpus_alloc=alloc, cpus_idle=idle,
            cpus_other=other, gpus_total=gres_gpus(gres), gpus_alloc=gres_gpus(gres_used), memory_mb=_text_int(memory),
        ))
    ordered = sorted(partitions.values(), key=lambda p: not p.default)  # sinfo -N sorts rows; default first
    return merge_nodes(nodes), tuple(ordered)


def _job_state(value: Any) -> str:
    tokens = [str(t).upper() for t in (value if isinstance(value, list) else [value or "UNKNOWN"])]
    for flag in ("COMPLETING", "CONFIGURING"):
        if flag in tokens:
            return flag
    return tokens[0] if tokens else "UNKNOWN"


def _job_id(item: Mapping[str, Any]) -> str:
    array_job = whole(item.get("array_job_id"))
    task = number(item.get("array_task_id"))
    tasks = str(item.get("array_task_string") or "")
    if array_job and task is not None:
        return f"{array_job}_{int(task)}"
    if array_job and tasks:
        return f"{array_job}_[{tasks}]"
    return str(whole(item.get("job_id")))


def _json_job(item: Mapping[str, Any]) -> SlurmJob:
    state = _job_state(item.get("job_state"))
    num_nodes = whole(item.get("node_count"))
    limit = number(item.get("time_limit"))
    return SlurmJob(
        id=_job_id(item), name=str(item.get("name") or ""), user=str(item.get("user_name") or ""),
        partition=str(item.get("partition") or ""), state=state, reason=_reason(item.get("state_reason")),
        nodes=str(item.get("nodes") or ""), num_nodes=num_nodes, cpus=whole(item.get("cpus")),
        gpus=job_gpus(str(item.get("tres_alloc_str") or ""), str(item.get("tres_per_job") or ""),
                      str(item.get("tres_per_node") or ""), str(item.get("tres_per_task") or ""),
                      num_nodes, whole(item.get("tasks"), 1)),
        submit_time=epoch(item.get("submit_time")),
        start_time=None if state == "PENDING" else epoch(item.get("start_time")),
        time_limit_s=None if limit is None else int(limit) * 60,
    )


def parse_squeue_json(text: str) -> tuple[SlurmJob, ...]:
    """``squeue --json``: 22.05 plain values and the 23.x+ state lists and number objects."""
    data = _json(text, "squeue --json")
    jobs = data.get("jobs")
    if not isinstance(jobs, list):
        raise SlurmParseError("squeue --json printed no 'jobs' list")
    try:
        return tuple(_json_job(item) for item in jobs)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SlurmParseError(f"squeue --json: a job entry has a bad field ({exc!r})") from exc


def parse_squeue_text(text: str) -> tuple[SlurmJob, ...]:
    """``squeue -h -O`` with :data:`SQUEUE_FIELDS` (times as SLURM_TIME_FORMAT=standard prints them)."""
    jobs = []
    for (job_id, user, part, state, reason, nodelist, num_nodes, cpus, tasks, tres_alloc, per_job, per_node,
         per_task, submit, start, limit, name) in _rows(text, len(SQUEUE_FIELDS), "squeue"):
        nodes_n = _text_int(num_nodes)
        state_up = state.upper()
        jobs.append(SlurmJob(
            id=job_id, name=name, user=user, partition=part, state=state_up, reason=_reason(reason),
            nodes=nodelist, num_nodes=nodes_n, cpus=_text_int(cpus),
            gpus=job_gpus(tres_alloc, per_job, per_node, per_task, nodes_n, _text_int(tasks) or 1),
            submit_time=text_time(submit), start_time=None if state_up == "PENDING" else text_time(start),
            time_limit_s=duration_s(limit),
        ))
    return tuple(jobs)

