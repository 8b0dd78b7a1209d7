"""The agent's read-only tools over the live cluster data and alerts; ``default_tools()`` lists them all.

History statistics live in ``tools_history``; Slurm and the service logs in ``tools_external``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from gpuwatch_desktop.agent.budget import CHARS_PER_TOKEN
from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.format import age, find_view, metric_text, number, parse_duration
from gpuwatch_desktop.agent.toolkit import Answer, Tool, ToolError, make_tool
from gpuwatch_desktop.agent.tools_external import service_logs, slurm_jobs, slurm_status
from gpuwatch_desktop.agent.tools_history import metric_history
from gpuwatch_desktop.core.alerts import AlertState
from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeState, NodeView

DEFAULT_BUDGET_TOKENS = 1500  # per tool output; about 6000 characters


async def cluster_status(data: ClusterData) -> Answer:
    """Overview of every watched node: polling state, GPU count, mean utilisation, hottest GPU, memory use,
    XID errors, and how many alerts are firing. Start here for "what is wrong with the cluster?".
    """
    views = data.views()
    alerts = data.active_alerts()
    firing = sum(1 for a in alerts if a.state is AlertState.FIRING)
    pending = sum(1 for a in alerts if a.state is AlertState.PENDING)
    nodes = [_node_summary(v) for v in views]
    states = {s.value: sum(1 for v in views if v.status.state is s) for s in NodeState}
    gpus = sum(len(v.snapshot.gpus) for v in views if v.snapshot is not None)
    by_state = {k: n for k, n in states.items() if n}
    value = {
        "nodes_by_state": by_state,
        "gpus": gpus,
        "alerts": {"firing": firing, "pending": pending, "other": len(alerts) - firing - pending},
        "nodes": nodes,
    }
    shown = ", ".join(f"{n} {k}" for k, n in by_state.items())
    summary = f"{len(views)} nodes ({shown or 'none watched'}), {gpus} GPUs, {firing} alerts firing"
    return Answer(summary, value)


def _node_summary(view: NodeView) -> dict[str, Any]:
    status, snap = view.status, view.snapshot
    out: dict[str, Any] = {"node": status.node, "state": status.state.value}
    if status.reason:
        out["reason"] = status.reason
    if snap is None:
        out["data"] = "none yet"
        return out
    out["data_age"] = age(time.time() - snap.time)
    out["gpus"] = len(snap.gpus)
    util = [u for g in snap.gpus if (u := g.value("gpu_util")) is not None]
    if util:
        out["gpu_util_mean_pct"] = number(sum(util) / len(util))
        out["gpu_util_min_pct"] = number(min(util))
    hottest = max(snap.gpus, key=lambda g: g.value("gpu_temp") or -1.0, default=None)
    if hottest is not None and hottest.value("gpu_temp") is not None:
        out["hottest_gpu"] = {"gpu": hottest.index, "temp_c": number(hottest.value("gpu_temp"))}
    used, free = _sum(snap.gpus, "fb_used"), _sum(snap.gpus, "fb_free")
    if used is not None and free is not None and used + free > 0:
        out["memory_used_pct"] = number(100 * used / (used + free))
    xid = [{"gpu": g.index, "xid": int(x)} for g in snap.gpus if (x := g.value("xid"))]
    if xid:
        out["xid_errors"] = xid
    return out


def _sum(gpus: Sequence[GpuSnapshot], key: str) -> float | None:
    values = [v for g in gpus if (v := g.value(key)) is not None]
    return sum(values) if values else None


async def gpu_metrics(data: ClusterData, node: str, gpu: int | None = None) -> Answer:
    """Current value of every GPU metric (with units and warn/crit levels) on one node, for one GPU or all.

    Args:
        node: the node's name, as cluster_status lists it
        gpu: GPU index on that node; omit for every GPU of the node
    """
    view = find_view(data, node)
    snap = view.snapshot
    if snap is None:
        raise ToolError(f"node {node!r} has no data yet (state {view.status.state.value}: {view.status.reason})")
    gpus = snap.gpus if gpu is None else [g for g in snap.gpus if g.index == gpu]
    if not gpus:
        raise ToolError(f"node {node!r} has no GPU {gpu}; its GPUs: {', '.join(str(g.index) for g in snap.gpus)}")
    rows = [{"gpu": g.index, "model": g.model, "uuid": g.uuid,
             "metrics": {m.key: metric_text(m, g.value(m.key)) for m in GPU_METRICS if g.value(m.key) is not None}}
            for g in gpus]
    value: dict[str, Any] = {"node": node, "hostname": snap.hostname, "state": view.status.state.value,
                             "data_age": age(time.time() - snap.time), "gpus": rows}
    if view.status.state in (NodeState.STALE, NodeState.DOWN):
        value["note"] = f"node is {view.status.state.value} ({view.status.reason}); these are its last good values"
    if snap.warnings or snap.notes:
        value["exporter_notes"] = [*snap.warnings, *snap.notes]
    where = f"GPU {gpu}" if gpu is not None else f"{len(rows)} GPUs"
    return Answer(f"{where} on {node}", value)


async def top_gpu_processes(data: ClusterData, limit: int = 10, node: str | None = None) -> Answer:
    """Processes using the most GPU memory, largest first, across the cluster or on one node.

    Args:
        limit: how many processes to list (1-100)
        node: only this node; omit for every node
    """
    views = [find_view(data, node)] if node is not None else data.views()
    found = sorted(((v.status.node, p) for v in views if v.snapshot is not None for p in v.snapshot.processes),
                   key=lambda item: -item[1].used_mib)
    rows = [{"node": node, "gpu": p.gpu_index, "pid": p.pid, "name": p.name, "used_mib": number(p.used_mib)}
            for node, p in found]
    limit = max(1, min(limit, 100))
    value = {"processes": rows[:limit], "total_processes": len(rows)}
    if not rows:
        value["note"] = "no GPU processes reported (the exporter may not report per-process memory)"
    return Answer(f"{min(limit, len(rows))} of {len(rows)} processes", value)


async def active_alerts(data: ClusterData) -> Answer:
    """Alerts now pending, firing or without data, worst first, with their value, age and summary."""
    now = time.time()
    alerts = sorted(data.active_alerts(), key=lambda a: (-a.severity.rank, a.state is not AlertState.FIRING, a.since))
    rows = []
    for a in alerts:
        row: dict[str, Any] = {"rule": a.rule_name, "node": a.key.node, "gpu": a.key.gpu, "state": a.state.value,
                               "severity": a.severity.value, "for": age(now - a.since),
                               "value": number(a.value), "summary": a.summary}
        marks = [m for m, on in (("silenced", a.silenced), ("acknowledged", a.acknowledged)) if on]
        if marks:
            row["marks"] = marks
        rows.append(row)
    firing = sum(1 for a in alerts if a.state is AlertState.FIRING)
    return Answer(f"{len(rows)} active ({firing} firing)", {"alerts": rows} if rows else "No alerts are active.")


async def alert_history(data: ClusterData, since: str = "24h", node: str | None = None,
                        rule: str | None = None, limit: int = 50) -> Answer:
    """Alert transitions (pending, firing, resolved...) of a recent period, newest first.

    Args:
        since: how far back, e.g. "30m", "24h", "7d"
        node: only alerts of this node
        rule: only this rule (its name or id)
        limit: at most this many events (1-500)
    """
    period = parse_duration(since)
    if node is not None:
        find_view(data, node)
    limit = max(1, min(limit, 500))
    events = await data.alert_events(time.time() - period, node, 500 if rule else limit)
    if rule is not None:
        wanted = rule.strip().lower()
        events = [e for e in events if wanted in (e.rule_id.lower(), e.rule_name.lower())]
    now = time.time()
    rows = [{"ago": age(now - e.time), "rule": e.rule_name, "node": e.node, "gpu": e.gpu,
             "change": f"{e.previous.value} -> {e.state.value}", "severity": e.severity.value,
             "value": number(e.value), "summary": e.summary} for e in events[:limit]]
    summary = f"{len(rows)} events in {since}"
    return Answer(summary, {"events": rows} if rows else f"No alert events in the last {since}.")


def default_tools(budget_tokens: int = DEFAULT_BUDGET_TOKENS, budgets: Mapping[str, int] | None = None) -> list[Tool]:
    """Every read-only tool; output budgets in tokens (one for all, ``budgets`` per tool name)."""
    budgets = budgets or {}
    fns = (cluster_status, gpu_metrics, metric_history, active_alerts, alert_history, top_gpu_processes,
           slurm_status, slurm_jobs, service_logs)
    unknown = set(budgets) - {fn.__name__ for fn in fns}
    if unknown:
        raise ValueError(f"budgets for unknown tools: {', '.join(sorted(unknown))}")
    return [make_tool(fn, budgets.get(fn.__name__, budget_tokens) * CHARS_PER_TOKEN, keep_tail=fn is service_logs)
            for fn in fns]
