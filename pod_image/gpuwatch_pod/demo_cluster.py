"""A simulated cluster in one process: N nodes, each its own exporter on a free loopback port.

Nodes are named node-1..node-N (the exporter's hostname label is the node name). So the demo
exercises real dcgm-exporter quirks, node-2 spells the hostname label ``hostname`` (lowercase)
and serves ``DCGM_FI_DEV_MEMORY_TEMP`` as the blank sentinel 9223372036854775794 ("not
supported"); every other node looks like a stock dcgm-exporter.

With ``services=True`` each node also gets a log server over simulated logs (vLLM loading then serving on
the head, node-1; slurmctld, slurmd, the exporter), served by the real LogServer, and the head a Slurm
exporter over a simulated Slurm (jobs arriving, running, finishing; one extra node drained).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from gpuwatch_pod.exporter import GpuExporter
from gpuwatch_pod.families import MEMORY_TEMP
from gpuwatch_pod.logserver import LogServer
from gpuwatch_pod.render import RenderOptions
from gpuwatch_pod.scenarios import HEALTHY, get_scenario
from gpuwatch_pod.sim import SimBackend
from gpuwatch_pod.simlogs import SimLogs
from gpuwatch_pod.slurm_exporter import SlurmExporter
from gpuwatch_pod.slurm_sim import SimSlurm

QUIRK_NODE = "node-2"
QUIRK_OPTIONS = RenderOptions(hostname_label="hostname", blank_families=frozenset({MEMORY_TEMP}))


def node_name(k: int) -> str:
    return f"node-{k}"


class DemoCluster:
    """Running simulated nodes; close it (or use it as a context manager) to stop them all."""

    def __init__(self, exporters: dict[str, GpuExporter], backends: dict[str, SimBackend],
                 host: str = "127.0.0.1") -> None:
        self.host = host
        self._exporters = exporters
        self._backends = backends
        self.log_servers: dict[str, LogServer] = {}
        self.sim_logs: SimLogs | None = None
        self.slurm: SlurmExporter | None = None
        self._log_dir: Path | None = None

    @property
    def nodes(self) -> list[tuple[str, str]]:
        """(node name, metrics URL) for every node, in order."""
        return [(name, exporter.url) for name, exporter in self._exporters.items()]

    def node_records(self) -> list[dict[str, Any]]:
        """``{name, url[, logs_url]}`` per node, as ``gpuwatch-pod demo`` prints them."""
        records: list[dict[str, Any]] = []
        for name, url in self.nodes:
            record = {"name": name, "url": url}
            if name in self.log_servers:
                record["logs_url"] = self.log_servers[name].url
            if self.slurm is not None and not records:
                record["slurm_url"] = self.slurm.url
            records.append(record)
        return records

    def start_services(self, seed: int = 0, gpus_per_node: int = 8) -> None:
        """Simulated logs for every node, each served by its own LogServer; a Slurm exporter on the head."""
        names = [name for name, _ in self.nodes]
        drained = node_name(len(names) + 1)
        sim = SimSlurm(names, gpus_per_node=gpus_per_node, cpus_per_node=max(64, gpus_per_node), seed=seed,
                       drained_node=drained)
        self.slurm = SlurmExporter(sim, self.host, 0, min_interval_s=2.0).start()
        self._log_dir = Path(tempfile.mkdtemp(prefix="gpuwatch-demo-logs-"))
        self.sim_logs = SimLogs(self._log_dir, names, head=names[0], seed=seed).start()
        for name in names:
            self.log_servers[name] = LogServer(self.sim_logs.paths(name), self.host, 0).start()

    def scenario(self, node: str) -> str:
        return self._exporter(node).scenario

    def set_scenario(self, node: str, name: str) -> None:
        """Switch one node's scenario; ValueError for an unknown node or scenario."""
        self._exporter(node).set_scenario(name)

    def close(self) -> None:
        if self.slurm is not None:
            self.slurm.close()
            self.slurm = None
        for server in self.log_servers.values():
            server.close()
        self.log_servers = {}
        if self.sim_logs is not None:
            self.sim_logs.close()
            self.sim_logs = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
        for name, exporter in self._exporters.items():
            exporter.close()
            self._backends[name].close()
        self._exporters = {}
        self._backends = {}

    def __enter__(self) -> DemoCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _exporter(self, node: str) -> GpuExporter:
        try:
            return self._exporters[node]
        except KeyError:
            raise ValueError(f"unknown node {node!r}; known: {', '.join(self._exporters)}") from None


def _check(nodes: int, gpus_per_node: int, scenarios: dict[str, str]) -> None:
    if nodes < 1 or gpus_per_node < 1:
        raise ValueError(f"need at least one node and one GPU per node, got {nodes} and {gpus_per_node}")
    names = {node_name(k) for k in range(1, nodes + 1)}
    for node, scenario in scenarios.items():
        if node not in names:
            raise ValueError(f"scenario for unknown node {node!r}; nodes are node-1..node-{nodes}")
        get_scenario(scenario)


def start_demo_cluster(
    nodes: int = 2,
    gpus_per_node: int = 8,
    scenarios: dict[str, str] | None = None,
    seed: int = 0,
    host: str = "127.0.0.1",
    services: bool = False,
) -> DemoCluster:
    """Start ``nodes`` simulated nodes in background threads. ``scenarios``: node name -> scenario.

    ``services``: also the pod's other services (log servers over simulated logs).
    """
    scenarios = scenarios or {}
    _check(nodes, gpus_per_node, scenarios)
    exporters: dict[str, GpuExporter] = {}
    backends: dict[str, SimBackend] = {}
    cluster = DemoCluster(exporters, backends, host)
    try:
        for k in range(1, nodes + 1):
            name = node_name(k)
            scenario = scenarios.get(name, HEALTHY)
            backends[name] = SimBackend(gpus_per_node, seed=seed, hostname=name, scenario=scenario)
            options = QUIRK_OPTIONS if name == QUIRK_NODE else None
            exporters[name] = GpuExporter(backends[name], host, 0, options).start()
        if services:
            cluster.start_services(seed, gpus_per_node)
    except BaseException:
        cluster.close()
        raise
    return cluster
