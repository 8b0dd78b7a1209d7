"""``metric_history``: summary statistics and a few sampled points of one metric, never a raw dump."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gpuwatch_desktop.agent.data import ClusterData, Series
from gpuwatch_desktop.agent.format import age, number, parse_duration
from gpuwatch_desktop.agent.toolkit import Answer, Metric, ToolError
from gpuwatch_desktop.core.metrics import METRICS_BY_KEY, MetricSpec

QUERY_POINTS = 600  # points read from the history for the statistics
SAMPLED_POINTS = 12  # points shown to the model
FLAT_SHARE = 0.05  # a change over the period under this share of the value's scale is "flat"


async def metric_history(data: ClusterData, metric: Metric, node: str, gpu: int, range: str = "1h") -> Answer:
    """Statistics of one GPU metric over a recent period: min, mean, max, p95, last value, trend (change per
    hour), time spent above the warn/crit thresholds, and about 12 evenly spaced sampled points.

    Args:
        metric: which metric (a key of the metric registry)
        node: the node's name
        gpu: the GPU's index on that node
        range: how far back, e.g. "15m", "1h", "24h", "7d"
    """
    spec = METRICS_BY_KEY[metric]
    period = parse_duration(range)
    end = time.time()
    series = await data.history(node, gpu, metric, end - period, end, QUERY_POINTS)
    known = ~np.isnan(series.mean)
    if not known.any():
        gpus = await data.known_gpus()
        if not any(g.node == node and g.gpu == gpu for g in gpus):
            listed = ", ".join(f"{g.node}/{g.gpu}" for g in gpus[:40]) or "none"
            raise ToolError(f"no history for {node} GPU {gpu}; GPUs with history (node/gpu): {listed}")
        return Answer("no data in range", f"No {spec.label} values for {node} GPU {gpu} in the last {range}.")
    value = {"metric": metric, "label": spec.label, "unit": spec.unit, "node": node, "gpu": gpu, "range": range,
             **summarise(series, spec, end)}
    last = value["last"]
    return Answer(f"{spec.label} {node}/{gpu} over {range}: last {last:g} {spec.unit}".rstrip(), value)


def summarise(series: Series, spec: MetricSpec, now: float) -> dict[str, Any]:
    """The statistics ``metric_history`` reports, from a series with at least one value."""
    known = ~np.isnan(series.mean)
    ts, mean = series.ts[known], series.mean[known]
    lows, highs = series.min[known], series.max[known]
    out: dict[str, Any] = {
        "points": int(known.sum()),
        "from": f"{age(now - ts[0])} ago", "to": f"{age(now - ts[-1])} ago",
        "min": number(float(np.nanmin(lows))), "mean": number(float(mean.mean())),
        "max": number(float(np.nanmax(highs))), "p95": number(float(np.percentile(mean, 95))),
        "last": number(float(mean[-1])), "max_at": f"{age(now - ts[int(np.nanargmax(highs))])} ago",
        "trend": _trend(ts, mean),
    }
    for name, threshold in (("warn", spec.warn), ("crit", spec.crit)):
        if threshold is not None:
            out[f"time_at_or_above_{name}_{threshold:g}_pct"] = number(100 * float((highs >= threshold).mean()))
    out["sampled"] = _sampled(ts, mean, now)
    return out


def _trend(ts: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    if len(ts) < 3 or ts[-1] - ts[0] <= 0:
        return {"direction": "unknown (too few points)"}
    slope = float(np.polyfit(ts - ts[0], values, 1)[0])  # unit per second
    change = slope * float(ts[-1] - ts[0])
    scale = max(float(np.ptp(values)), abs(float(values.mean())), 1e-9)
    direction = "flat" if abs(change) < FLAT_SHARE * scale else "rising" if change > 0 else "falling"
    return {"direction": direction, "change_per_hour": number(slope * 3600)}


def _sampled(ts: np.ndarray, values: np.ndarray, now: float) -> list[list[Any]]:
    """About ``SAMPLED_POINTS`` [age, bucket mean] pairs, oldest first."""
    buckets = np.array_split(np.arange(len(ts)), min(SAMPLED_POINTS, len(ts)))
    return [[f"-{age(now - float(ts[b[-1]]))}", number(float(values[b].mean()))] for b in buckets if len(b)]
