"""History storage benchmark: bytes per raw sample on disk and the 7-day chart query time.

Two SQLite files are built through the public ``HistoryStore.write_round`` API with noisy,
realistic values (jobs start and stop, temperatures follow load with a lag, power is noisy
with 0.01 W resolution, energy counts up, one node lacks a metric family):

- A: 2 nodes x 8 GPUs polled every 2 s for --hours hours (raw rows, and the rollups that
  write_round computes as it goes). bytes/sample = file size after a WAL checkpoint
  (TRUNCATE) divided by the number of non-NULL raw metric values stored (NULLs, the
  missing family, are not counted, so the figure is conservative).
- B: the same 16 GPUs over 7 days: polled every 30 s for the older part, then every 2 s for
  the last --hours hours; retention applied. query-7d = one GPU, the charted metrics, the
  last 7 days, max_points=2000, best of --repeat runs (milliseconds). Shorter ranges are
  printed for information.

Targets: bytes/sample <= 6, query-7d <= 100 ms. The last line prints both figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpuwatch_desktop.core.metrics import CHARTED_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_desktop.storage.schema import METRIC_KEYS

NODES = ("node-a", "node-b")
GPUS_PER_NODE = 8
FB_TOTAL = 81559.0
NOW = 1_760_000_000.0


def _busy_mask(rng: np.random.Generator, n: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Busy flag and memory level per poll: jobs of ~45 min on average, busy 70 % of the time."""
    mask = np.zeros(n, dtype=bool)
    fb = np.zeros(n)
    i = 0
    while i < n:
        length = max(1, int(rng.exponential(2700 / dt)))
        busy = rng.random() < 0.7
        mask[i : i + length] = busy
        fb[i : i + length] = rng.uniform(20000, 78000) if busy else rng.uniform(0, 600)
        i += length
    return mask, fb


def _lag(target: np.ndarray, start: float, alpha: float) -> np.ndarray:
    out = np.empty_like(target)
    value = start
    for i, t in enumerate(target):
        value += alpha * (t - value)
        out[i] = value
    return out


def gpu_series(rng: np.random.Generator, n: int, dt: float) -> dict[str, np.ndarray]:
    """Every metric of one GPU over n polls dt seconds apart."""
    busy, fb_level = _busy_mask(rng, n, dt)
    noise = rng.normal(size=(8, n))
    util = np.clip(np.where(busy, 93 + 5 * noise[0], 1 + noise[0]), 0, 100).round()
    temp = _lag(34 + 0.45 * util, 40.0, min(1.0, dt / 60)) + noise[1] * 0.6
    power = np.clip(70 + 6.1 * util + 18 * noise[2], 55, 700).round(2)
    fb_used = (fb_level + np.cumsum(noise[3]) * 4).clip(0, FB_TOTAL - 600).round()
    sm_clock = np.where(busy, np.where(rng.random(n) < 0.2, 1755, 1980), np.where(noise[4] > 1, 1980, 345))
    throttle = np.where(busy, np.where(rng.random(n) < 0.15, 4, 0), 1)
    return {
        "gpu_util": util,
        "mem_copy_util": np.clip(util * 0.4 + 3 * noise[5], 0, 100).round(),
        "fb_used": fb_used,
        "fb_free": FB_TOTAL - fb_used - 462,
        "fb_reserved": np.full(n, 462.0),
        "gpu_temp": temp.round(),
        "mem_temp": (temp + 6 + noise[6]).round(),
        "power": power,
        "power_limit": np.full(n, 700.0),
        "energy": (rng.uniform(1e9, 1e11) + np.cumsum(power * dt * 1000)).round(),
        "sm_clock": sm_clock.astype(float),
        "mem_clock": np.full(n, 2619.0),
        "xid": np.zeros(n),
        "pcie_replay": np.cumsum(rng.random(n) < 0.0005).astype(float),
        "throttle_reasons": throttle.astype(float),
        "ecc_dbe": np.zeros(n),
    }


def write_history(store: HistoryStore, rng: np.random.Generator, start: float, n: int, dt: float) -> int:
    """Write n rounds of all GPUs; returns the number of non-NULL raw values written."""
    series = [[gpu_series(rng, n, dt) for _ in range(GPUS_PER_NODE)] for _ in NODES]
    keys = [METRIC_KEYS, tuple(k for k in METRIC_KEYS if k != "fb_reserved")]  # node-b lacks a family
    values = 0
    for i in range(n):
        t = start + i * dt + 0.3
        snaps = []
        for node_no, node in enumerate(NODES):
            gpus = tuple(
                GpuSnapshot(g, f"GPU-{node}-{g}", "NVIDIA H100 80GB HBM3", f"0000:{g:02x}:00.0",
                            {k: float(series[node_no][g][k][i]) for k in keys[node_no]})
                for g in range(GPUS_PER_NODE)
            )
            values += sum(len(gpu.values) for gpu in gpus)
            snaps.append(NodeSnapshot(node, node, t, gpus))
        store.write_round(snaps)
    return values


def checkpointed_size(store: HistoryStore) -> int:
    store.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return store.path.stat().st_size


def bench_bytes(directory: Path, hours: float) -> float:
    rng = np.random.default_rng(1)
    n = int(hours * 3600 / 2)
    with HistoryStore(directory / "a.sqlite3") as store:
        t0 = time.perf_counter()
        values = write_history(store, rng, NOW - n * 2, n, 2.0)
        elapsed = time.perf_counter() - t0
        size = checkpointed_size(store)
        sql = "SELECT SUM(pgsize) FROM dbstat WHERE name = 'raw'"
        raw_bytes = store.database.execute_sql(sql).fetchone()[0]
    rows = n * len(NODES) * GPUS_PER_NODE
    print(f"A: {n} rounds x {len(NODES) * GPUS_PER_NODE} GPUs = {rows} raw rows, {values} values "
          f"written in {elapsed:.1f} s ({rows / elapsed:.0f} rows/s)")
    print(f"A: file {size} bytes -> {size / values:.2f} bytes/value; table raw alone "
          f"{raw_bytes} bytes -> {raw_bytes / values:.2f} bytes/value")
    return size / values


def bench_query(directory: Path, hours: float, repeat: int) -> float:
    rng = np.random.default_rng(2)
    fine = int(hours * 3600 / 2)
    coarse = int((7 * 86400 - fine * 2) / 30)
    with HistoryStore(directory / "b.sqlite3") as store:
        write_history(store, rng, NOW - fine * 2 - coarse * 30, coarse, 30.0)
        write_history(store, rng, NOW - fine * 2, fine, 2.0)
        store.apply_retention(NOW)
        size = checkpointed_size(store)
        keys = [m.key for m in CHARTED_METRICS]
        print(f"B: 7 days, 16 GPUs, file {size / 1e6:.1f} MB; querying {keys}")
        best = {}
        for label, span in (("1h", 3600), (f"{hours:g}h", hours * 3600), ("24h", 86400), ("7d", 7 * 86400)):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                result = store.query("node-a", 3, keys, NOW - span, NOW)
                times.append((time.perf_counter() - t0) * 1000)
            best[label] = min(times)
            print(f"B: query {label}: {len(result['gpu_util'])} points, best {best[label]:.1f} ms "
                  f"(median {sorted(times)[len(times) // 2]:.1f} ms)")
    return best["7d"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0, help="hours of 2 s raw data (default 6)")
    parser.add_argument("--repeat", type=int, default=7, help="query repetitions (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per_sample = bench_bytes(Path(tmp), args.hours)
        query_ms = bench_query(Path(tmp), args.hours, args.repeat)
    print("baseline: targets bytes/sample <= 6.0, query-7d <= 100 ms; narrow (series, ts, value) layout: ~40")
    print(f"bytes/sample: {per_sample:.1f}  query-7d ms: {query_ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
