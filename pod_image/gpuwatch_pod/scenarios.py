"""Named fault scenarios a simulated node can be switched to at run time.

Each scenario is data: what it asks of the simulated GPUs and of the HTTP server. GPU-level
faults hit fixed GPUs so tests and demos are predictable: ``memory-leak`` leaks on GPU 0,
``xid`` fails the node's last GPU. ``overheat`` and ``idle`` apply to every GPU of the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class HttpMode(Enum):
    NORMAL = "normal"
    HANG = "hang"  # accept the connection, never reply
    GARBAGE = "garbage"  # HTTP 200 with a malformed payload


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    http: HttpMode = HttpMode.NORMAL
    jobs_allowed: bool = True  # False: every job ends and none start
    force_load: bool = False  # every GPU runs a training job
    ambient_offset_c: float = 0.0  # cooling failure: raises the temperature each GPU settles at
    leak_mib_per_s: float = 0.0  # GPU 0's process grows by this much until the GPU is full
    xid: int = 0  # the last GPU reports this XID, its processes die and it takes no new jobs


HEALTHY = "healthy"

_ALL: tuple[Scenario, ...] = (
    Scenario(HEALTHY, "normal load phases: training, inference, idle"),
    Scenario(
        "overheat", "cooling failure: all GPUs under load climb past 90 °C and throttle",
        force_load=True, ambient_offset_c=40.0,
    ),
    Scenario("xid", "the last GPU hits XID 48 (double-bit ECC error); its processes die", xid=48),
    Scenario("idle", "all GPUs idle: ~0 % utilisation, low power, no processes", jobs_allowed=False),
    Scenario("memory-leak", "a process on GPU 0 grows steadily until the GPU is full", leak_mib_per_s=256.0),
    Scenario("node-down", "the metrics server accepts connections and never replies", http=HttpMode.HANG),
    Scenario("garbage", "the metrics server answers 200 with a malformed payload", http=HttpMode.GARBAGE),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ValueError listing the known names otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
