"""Command line: ``gpuwatch-pod gpu-exporter ...`` and ``gpuwatch-pod demo ...``.

``demo`` prints one JSON line ``{"nodes": [{"name": ..., "url": ...}, ...]}`` on stdout, then
serves until stdin reaches EOF or it gets SIGTERM/SIGINT (``--ignore-stdin``: signals only).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading

from gpuwatch_pod.backend import GpuBackend
from gpuwatch_pod.demo_cluster import node_name, start_demo_cluster
from gpuwatch_pod.exporter import DEFAULT_PORT, GpuExporter
from gpuwatch_pod.httpserver import token_from_env
from gpuwatch_pod.logserver import DEFAULT_PORT as LOG_PORT
from gpuwatch_pod.logserver import LogServer
from gpuwatch_pod.nvml import NvmlBackend, NvmlUnavailable
from gpuwatch_pod.scenarios import HEALTHY, SCENARIOS, get_scenario
from gpuwatch_pod.sim import SimBackend
from gpuwatch_pod.slurm_cli import add_slurm_parser, run_slurm_exporter

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpuwatch-pod", description="GPU Watchdog pod services")
    sub = parser.add_subparsers(dest="command", required=True)
    known = ", ".join(SCENARIOS)
    exp = sub.add_parser("gpu-exporter", help="serve GPU metrics, dcgm-exporter compatible (token: GPUWATCH_POD_TOKEN)")
    exp.add_argument("--port", type=int, default=DEFAULT_PORT)
    exp.add_argument("--host", default="0.0.0.0")
    exp.add_argument("--backend", choices=("sim", "nvml"), default="sim")
    exp.add_argument("--scenario", default=HEALTHY, help=f"sim only; one of: {known}")
    exp.add_argument("--gpus", type=int, default=8, help="sim only: number of GPUs")
    exp.add_argument("--seed", type=int, default=0, help="sim only")
    exp.add_argument("--hostname", default=socket.gethostname(), help="the Hostname label")
    demo = sub.add_parser("demo", help="run a simulated cluster on loopback ports")
    demo.add_argument("--nodes", type=int, default=2)
    demo.add_argument("--gpus", type=int, default=8, help="GPUs per node")
    demo.add_argument(
        "--scenario", action="append", default=[], metavar="NAME[@node-K]",
        help=f"apply a scenario to one node, or to all without @; one of: {known}",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--ignore-stdin", action="store_true", help="stop on SIGTERM/SIGINT only")
    demo.add_argument("--exporters-only", action="store_true", help="no simulated logs or Slurm, GPU exporters only")
    logs = sub.add_parser("log-server", help="serve registered log files (token: GPUWATCH_POD_TOKEN)")
    logs.add_argument("--log", action="append", default=[], metavar="NAME=PATH", help="repeatable")
    logs.add_argument("--port", type=int, default=LOG_PORT)
    logs.add_argument("--host", default="0.0.0.0")
    add_slurm_parser(sub)
    return parser


def parse_scenarios(specs: list[str], nodes: int) -> dict[str, str]:
    """``["overheat@node-2", "idle"]`` -> node name -> scenario; later specs win. ValueError on bad input."""
    out: dict[str, str] = {}
    for spec in specs:
        name, _, node = spec.partition("@")
        get_scenario(name)
        targets = [node] if node else [node_name(k) for k in range(1, nodes + 1)]
        for target in targets:
            out[target] = name
    return out


def _stop_event(watch_stdin: bool) -> threading.Event:
    """Set on SIGTERM/SIGINT and, if ``watch_stdin``, when stdin reaches EOF."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if watch_stdin:
        threading.Thread(target=_wait_stdin_eof, args=(stop,), name="stdin-eof", daemon=True).start()
    return stop


def _wait_stdin_eof(stop: threading.Event) -> None:
    try:
        while os.read(0, 65536):  # raw fd: never holds sys.stdin's lock at interpreter exit
            pass
    except OSError:
        pass
    stop.set()


def _wait(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def _exporter_backend(args: argparse.Namespace) -> tuple[GpuBackend, str]:
    """The backend and how to describe it; NvmlUnavailable when NVML cannot be used here."""
    if args.backend == "nvml":
        logging.basicConfig(level=logging.INFO, format="gpuwatch-pod: %(levelname)s %(message)s", stream=sys.stderr)
        nvml = NvmlBackend(args.hostname)
        return nvml, f"nvml, {len(nvml.devices())} GPUs, driver {nvml.driver_version}"
    sim = SimBackend(args.gpus, seed=args.seed, hostname=args.hostname, scenario=args.scenario)
    return sim, f"sim, {args.gpus} GPUs, scenario {args.scenario}"


def _run_exporter(args: argparse.Namespace) -> int:
    try:
        backend, description = _exporter_backend(args)
    except NvmlUnavailable as exc:
        print(f"gpuwatch-pod: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        exporter = GpuExporter(backend, args.host, args.port, token=token_from_env())
    except BaseException:
        backend.close()
        raise
    stop = _stop_event(watch_stdin=False)
    exporter.start()
    print(f"serving {exporter.url} ({description})", file=sys.stderr)
    try:
        _wait(stop)
    finally:
        exporter.close()
        backend.close()
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    scenarios = parse_scenarios(args.scenario, args.nodes)
    stop = _stop_event(watch_stdin=not args.ignore_stdin)
    with start_demo_cluster(args.nodes, args.gpus, scenarios, args.seed, args.host,
                            services=not args.exporters_only) as cluster:
        sys.stdout.write(json.dumps({"nodes": cluster.node_records()}) + "\n")
        sys.stdout.flush()
        _wait(stop)
    return 0


def _run_log_server(args: argparse.Namespace) -> int:
    pairs = [spec.partition("=") for spec in args.log]
    if any(not sep or not path for _, sep, path in pairs):
        raise ValueError("--log takes NAME=PATH")
    server = LogServer({name: path for name, _, path in pairs}, args.host, args.port,
                       token_from_env())
    stop = _stop_event(watch_stdin=False)
    server.start()
    print(f"serving {server.url}/logs ({len(pairs)} logs)", file=sys.stderr)
    try:
        _wait(stop)
    finally:
        server.close()
    return 0


def _run_slurm_exporter(args: argparse.Namespace) -> int:
    return run_slurm_exporter(args, _stop_event(watch_stdin=False))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run = {"gpu-exporter": _run_exporter, "demo": _run_demo, "log-server": _run_log_server,
           "slurm-exporter": _run_slurm_exporter}[args.command]
    try:
        return run(args)
    except (ValueError, OSError) as exc:
        print(f"gpuwatch-pod: error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
