"""CPU cost of one poll round in the desktop process: scrape + parse + store of N simulated nodes.

Starts the demo cluster (``python -m gpuwatch_pod demo``) in a child process as the app does, then
runs the real ``Poller`` with a real ``HistoryWorker``/``HistoryStore`` in a temporary directory.
CPU is ``time.process_time()`` of this process only (the exporters' CPU is the child's), and it
is process-wide, so the history worker thread's SQLite time counts too. The store share is the
CPU spent while the round awaits the history write; scrape + parse is the rest.

Baseline: 80 ms of CPU per round of 64 nodes x 8 GPUs (4 % of one core at the 2 s interval).
The last line is ``round cpu ms: N.N`` (median over the measured rounds, after warm-up rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import demo_cluster, history_worker, median

from gpuwatch_desktop.core.snapshot import NodeSnapshot, NodeStatus
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.poller import Poller
from gpuwatch_desktop.services.state import ClusterState

TARGET_MS = 80.0
PAUSE_S = 0.3  # between rounds: the simulated GPUs move on and the exporters go idle


@dataclass
class TimedWriter:
    """Wraps the history write to measure its CPU share and count what each round stores."""

    worker: HistoryWorker
    cpu_s: float = 0.0
    samples: int = 0
    rows: int = 0
    calls: list[float] = field(default_factory=list)

    async def __call__(self, snapshots: Sequence[NodeSnapshot], statuses: Sequence[NodeStatus] = ()) -> int:
        started = time.process_time()
        rows = await self.worker.write_round(snapshots, statuses)
        self.cpu_s += time.process_time() - started
        self.samples += sum(s.sample_count for s in snapshots)
        self.rows += rows
        return rows

    def reset(self) -> None:
        self.cpu_s, self.samples, self.rows = 0.0, 0, 0


@dataclass
class RoundFigures:
    cpu_ms: float
    wall_ms: float
    store_cpu_ms: float
    samples: int
    gpu_rows: int
    nodes_up: int


async def one_round(poller: Poller, writer: TimedWriter) -> RoundFigures:
    writer.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    info = await poller.poll_round()
    cpu_ms = (time.process_time() - cpu) * 1000
    wall_ms = (time.perf_counter() - wall) * 1000
    return RoundFigures(cpu_ms, wall_ms, writer.cpu_s * 1000, writer.samples, writer.rows, info.nodes_up)


async def measure(nodes: int, gpus: int, warmup: int, rounds: int, directory: Path) -> list[RoundFigures]:
    async with demo_cluster(nodes, gpus) as cluster, history_worker(directory) as worker:
        writer = TimedWriter(worker)
        poller = Poller(ClusterState(), writer, interval_s=2.0)
        await poller.set_nodes(cluster.nodes)
        try:
            figures = []
            for k in range(warmup + rounds):
                figure = await one_round(poller, writer)
                if k >= warmup:
                    figures.append(figure)
                await asyncio.sleep(PAUSE_S)
            return figures
        finally:
            await poller.aclose()


def report(figures: list[RoundFigures], nodes: int) -> int:
    cpu = median([f.cpu_ms for f in figures])
    store = median([f.store_cpu_ms for f in figures])
    scrape = median([f.cpu_ms - f.store_cpu_ms for f in figures])
    down = [f.nodes_up for f in figures if f.nodes_up != nodes]
    print(f"{len(figures)} rounds of {nodes} nodes; samples per round {figures[-1].samples}, "
          f"GPU rows stored per round {figures[-1].gpu_rows}")
    print(f"wall ms per round: median {median([f.wall_ms for f in figures]):.1f}, "
          f"max {max(f.wall_ms for f in figures):.1f}")
    print(f"cpu ms per round: min {min(f.cpu_ms for f in figures):.1f}, max {max(f.cpu_ms for f in figures):.1f}")
    print(f"split (median cpu ms): scrape+parse+publish {scrape:.1f}, store {store:.1f}")
    if down:
        print(f"warning: {len(down)} round(s) had nodes not up (fewest up: {min(down)}/{nodes})")
    print(f"baseline {TARGET_MS:.0f} ms: {cpu / TARGET_MS:.2f}x of the budget")
    print(f"round cpu ms: {cpu:.1f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per node")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpuwatch-bench-") as directory:
        figures = asyncio.run(measure(args.nodes, args.gpus, args.warmup, args.rounds, Path(directory)))
    return report(figures, args.nodes)


if __name__ == "__main__":
    sys.exit(main())
