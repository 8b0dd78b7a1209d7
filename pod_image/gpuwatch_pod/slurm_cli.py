"""``gpuwatch-pod slurm-exporter``: its arguments and its run loop (wired in by ``__main__``)."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from gpuwatch_pod.httpserver import token_from_env
from gpuwatch_pod.slurm_collect import DEFAULT_MIN_INTERVAL_S, DEFAULT_TIMEOUT_S, SlurmCommands
from gpuwatch_pod.slurm_exporter import DEFAULT_PORT, SlurmExporter
from gpuwatch_pod.slurm_model import SlurmSource
from gpuwatch_pod.slurm_sim import SimSlurm


def add_slurm_parser(sub: Any) -> None:
    """Add the ``slurm-exporter`` subcommand to an argparse subparsers object."""
    cmd = sub.add_parser(
        "slurm-exporter", help="serve Slurm metrics, nodes and the job queue (token: GPUWATCH_POD_TOKEN)"
    )
    cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    cmd.add_argument("--host", default="0.0.0.0")
    cmd.add_argument("--min-interval", type=float, default=DEFAULT_MIN_INTERVAL_S,
                     help="ask Slurm at most once per this many seconds, however often it is scraped")
    cmd.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                     help="seconds after which a hung sinfo/squeue is killed and reported")
    cmd.add_argument("--format", choices=("auto", "json", "text"), default="auto",
                     help="read sinfo/squeue --json or text output (auto: --json when this Slurm has it)")
    cmd.add_argument("--sim", type=int, metavar="NODES",
                     help="serve a simulated cluster of NODES nodes (plus one drained) instead of the real Slurm")
    cmd.add_argument("--gpus", type=int, default=8, help="--sim only: GPUs per node")
    cmd.add_argument("--seed", type=int, default=0, help="--sim only")


def _source(args: argparse.Namespace) -> tuple[SlurmSource, str]:
    if args.sim is None:
        return SlurmCommands(timeout_s=args.timeout, mode=args.format), f"sinfo/squeue, {args.format} output"
    if args.sim < 1:
        raise ValueError("--sim needs at least one node")
    names = [f"node-{k}" for k in range(1, args.sim + 1)]
    sim = SimSlurm(names, gpus_per_node=args.gpus, cpus_per_node=max(64, args.gpus), seed=args.seed,
                   drained_node=f"node-{args.sim + 1}")
    return sim, f"simulated, {args.sim} nodes + 1 drained"


def run_slurm_exporter(args: argparse.Namespace, stop: threading.Event) -> int:
    """Serve until ``stop`` is set. ValueError/OSError for bad arguments or a port in use."""
    if args.min_interval < 0:
        raise ValueError("--min-interval cannot be negative")
    source, what = _source(args)
    exporter = SlurmExporter(source, args.host, args.port, token_from_env(), args.min_interval)
    exporter.start()
    print(f"serving {exporter.url}/metrics, /jobs, /nodes ({what})", file=sys.stderr)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        exporter.close()
    return 0
