"""Small helpers the tools share: durations, ages, numbers with units, finding a node."""

from __future__ import annotations

import math
import re

from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.toolkit import ToolError
from gpuwatch_desktop.core.metrics import MetricSpec
from gpuwatch_desktop.core.snapshot import NodeView

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_PERIOD_S = 90 * 86400

# dcgm's clock event (throttle) reason bits.
THROTTLE_BITS = (
    (0x1, "idle"), (0x2, "application clocks setting"), (0x4, "software power cap"),
    (0x8, "hardware slowdown"), (0x10, "sync boost"), (0x20, "software thermal slowdown"),
    (0x40, "hardware thermal slowdown"), (0x80, "hardware power brake"), (0x100, "display clock setting"),
)


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h', '24h', '7d', '2w' -> seconds; ToolError for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match is None or float(match[1]) <= 0:
        raise ToolError(f"{text!r} is not a duration like 30m, 1h, 24h or 7d")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds > MAX_PERIOD_S:
        raise ToolError(f"{text!r} is longer than the 90 days of history kept")
    return seconds


def age(seconds: float) -> str:
    """A short age: '42s', '5m', '3h 20m', '2d 4h'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def number(value: float | None) -> float | None:
    """Rounded for the model: one decimal below 1000, whole numbers above."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 1) if abs(value) < 1000 else float(round(value))


def metric_text(spec: MetricSpec, value: float | None) -> str:
    """'82 °C (warn)', '0x4 (software power cap)', '31000 MiB'."""
    if value is None:
        return "no value"
    if spec.key == "throttle_reasons":
        bits = int(value)
        reasons = [name for bit, name in THROTTLE_BITS if bits & bit]
        return f"{bits:#x} ({', '.join(reasons) or 'none'})"
    text = f"{number(value):g} {spec.unit}".rstrip()
    level = spec.level(value)
    return f"{text} ({level})" if level in ("warn", "crit") else text


def known_nodes(data: ClusterData) -> list[str]:
    return [v.status.node for v in data.views()]


def find_view(data: ClusterData, node: str) -> NodeView:
    """The node's view; ToolError naming the watched nodes when there is none of that name."""
    for view in data.views():
        if view.status.node == node:
            return view
    names = known_nodes(data)
    raise ToolError(f"no node named {node!r}; watched nodes: {', '.join(names) or 'none'}")
