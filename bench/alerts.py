"""Alert engine benchmark: one evaluation round of 64 nodes × 8 GPUs × 20 rules.

A ``LiveHistory`` is filled with 30 minutes of 2 s polls of realistic values (load phases, noisy
utilisation, temperature following power, energy and replay counters with a reset, memory
share), with faults: one node overheating, one GPU with an XID, some GPUs idle, one node stale.
The 20 rules mix every kind and aggregation (the six defaults plus 14 more, some scoped with
label matchers). Each round a new snapshot of every node is added to the history and the
engine evaluates; the first round (catching the whole history up from the LiveHistory) is
reported apart. Target: <= 10 ms per round; the LAST line prints the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from gpuwatch_desktop.alerts import AlertEngine
from gpuwatch_desktop.alerts.rules_file import default_rules
from gpuwatch_desktop.core.alerts import Aggregation, AlertRule, Comparator, LabelMatcher, MatchOp, Scope
from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot, NodeState, NodeStatus, NodeView
from gpuwatch_desktop.services.live import LiveHistory

NODES, GPUS, STEP_S, HISTORY_S = 64, 8, 2.0, 1800.0
START = 1_760_000_000.0
MODEL = "NVIDIA H100 80GB HBM3"
_KEYS = tuple(m.key for m in GPU_METRICS)


class Cluster:
    """Vectorised fake cluster: node 3 overheats, node 5 GPU 7 has XID 79, node 9 idles, node 12 goes stale."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        n = NODES * GPUS
        self.busy = self.rng.random(n) < 0.8
        self.busy[9 * GPUS:10 * GPUS] = False
        self.temp = np.full(n, 60.0)
        self.energy = self.rng.uniform(5e9, 5e10, n)
        self.replay = np.zeros(n)
        self.fb_used = np.where(self.busy, self.rng.uniform(30000, 78000, n), 0.0)

    def step(self, t: float) -> list[dict[str, float]]:
        rng, n = self.rng, NODES * GPUS
        flip = rng.random(n) < 0.004
        flip[9 * GPUS:10 * GPUS] = False
        self.busy ^= flip
        util = np.where(self.busy, np.clip(95 + rng.normal(0, 3, n), 0, 100), np.clip(rng.normal(1, 1, n), 0, 100))
        power = 72 + 6 * util + rng.normal(0, 6, n)
        target = 27 + 0.063 * power
        target[3 * GPUS:4 * GPUS] += 40
        self.temp += (target - self.temp) * (1 - np.exp(-STEP_S / 12))
        self.energy += power * STEP_S * 1000
        self.replay += rng.random(n) < 0.01
        if int(t) % 600 == 0:
            self.replay[:GPUS] = 0  # a counter reset (driver reload)
        capped = (power > 690).astype(float) * 4
        xid = np.zeros(n)
        xid[5 * GPUS + 7] = 79
        columns = {
            "gpu_util": util, "mem_copy_util": util * 0.5, "fb_used": self.fb_used, "fb_free": 81000 - self.fb_used,
            "fb_reserved": np.full(n, 579.0), "gpu_temp": np.round(self.temp), "mem_temp": np.round(self.temp + 3),
            "power": power, "power_limit": np.full(n, 700.0), "energy": self.energy,
            "sm_clock": np.where(self.temp > 87, 1200.0, 1980.0), "mem_clock": np.full(n, 2619.0), "xid": xid,
            "pcie_replay": self.replay, "throttle_reasons": capped, "ecc_dbe": np.zeros(n),
        }
        rows = np.column_stack([columns[k] for k in _KEYS]).tolist()
        return [dict(zip(_KEYS, row, strict=True)) for row in rows]


def snapshots(cluster: Cluster, t: float) -> list[NodeView]:
    values = cluster.step(t)
    views = []
    for node in range(NODES):
        name = f"node-{node}"
        gpus = tuple(GpuSnapshot(g, f"GPU-{node}-{g}", MODEL, f"0000:{g:02x}:00.0", values[node * GPUS + g])
                     for g in range(GPUS))
        stale = node == 12 and t > START + HISTORY_S
        status = NodeStatus(name, NodeState.STALE if stale else NodeState.UP, consecutive_failures=3 if stale else 0)
        views.append(NodeView(status, NodeSnapshot(name, name, t, gpus)))
    return views


def extra_rules() -> list[AlertRule]:
    h100 = Scope(matchers=(LabelMatcher("model", MatchOp.RE, "H100.*"),))
    specs = [
        ("gpu_temp", Aggregation.MEAN, 300, Comparator.GT, 80, Scope()),
        ("mem_temp", Aggregation.MAX, 60, Comparator.GT, 90, Scope()),
        ("power", Aggregation.MAX, 60, Comparator.GT, 690, h100),
        ("sm_clock", Aggregation.MIN, 120, Comparator.LT, 800, h100),
        ("ecc_dbe", Aggregation.RATE, 300, Comparator.GT, 0, Scope()),
        ("pcie_replay", Aggregation.RATE, 300, Comparator.GT, 0.01, Scope()),
        ("energy", Aggregation.RATE, 60, Comparator.GT, 650_000, Scope()),
        ("gpu_util", Aggregation.MEAN, 600, Comparator.LT, 20, Scope()),
        ("fb_used", Aggregation.MAX, 300, Comparator.GT, 79000, Scope()),
        ("mem_copy_util", Aggregation.MEAN, 120, Comparator.GT, 90, Scope()),
        ("gpu_temp", Aggregation.MAX, 300, Comparator.GE, 90, Scope(gpu=0)),
        ("power", Aggregation.MEAN, 300, Comparator.LT, 100, Scope()),
        ("sm_clock", Aggregation.LAST, 60, Comparator.LT, 500, Scope(node="node-3")),
        ("gpu_util", Aggregation.LAST, 0, Comparator.EQ, 0, Scope()),
    ]
    return [AlertRule(f"extra-{i}", f"extra {i}", metric=m, aggregation=a, window_s=w, comparator=c, threshold=t,
                      for_s=30, keep_firing_s=60, scope=s) for i, (m, a, w, c, t, s) in enumerate(specs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="timed rounds (default 100)")
    args = parser.parse_args()
    cluster, history = Cluster(), LiveHistory()
    t = START
    while t <= START + HISTORY_S:
        for view in snapshots(cluster, t):
            assert view.snapshot is not None
            history.add(view.snapshot)
        t += STEP_S
    rules = default_rules() + extra_rules()
    engine = AlertEngine(rules, prices={"H100": 2.49})
    views = snapshots(cluster, t)
    started = time.perf_counter()
    engine.evaluate(t, views, history)
    print(f"rules: {len(rules)}, series per round: {NODES * GPUS * (len(rules) - 1) + NODES}")
    print(f"first round (catch-up of {HISTORY_S / 60:.0f} min from LiveHistory): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    times, cpu, active, events = [], [], 0, 0
    for _ in range(args.rounds):
        t += STEP_S
        views = snapshots(cluster, t)
        for view in views:
            assert view.snapshot is not None
            history.add(view.snapshot)
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = engine.evaluate(t, views, history)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        active, events = active + len(result.active), events + len(result.events)
    print(f"per round: {active / args.rounds:.0f} active series, {events / args.rounds:.0f} events; "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms, CPU median {statistics.median(cpu):.1f} ms")
    print("baseline: target <= 10 ms; one LiveHistory.series call per series and metric would be ~100 ms")
    print(f"eval ms per round: {statistics.median(times):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
