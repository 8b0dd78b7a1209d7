"""The built-in demo cluster: simulated pod exporters in a child process on free loopback ports."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from gpuwatch_desktop.alerts.rules_file import default_rules
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.alerts import AlertRule, RuleKind
from gpuwatch_desktop.core.errors import GpuwatchError

START_TIMEOUT_S = 20.0
DEMO_IDLE_WINDOW_S = 60.0


def demo_rules() -> list[AlertRule]:
    """The default rules, with the idle-GPU window cut from 30 min to 1 min so the demo's `idle` scenario shows it."""
    return [
        replace(rule, window_s=DEMO_IDLE_WINDOW_S,
                description=rule.description.replace("30 minutes", "a minute (demo setting; default 30 min)"))
        if rule.kind is RuleKind.IDLE else rule
        for rule in default_rules()
    ]


def pod_command(*args: str) -> list[str]:
    """How to run the pod package's CLI with this interpreter (or this frozen app)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "pod", *args]
    return [sys.executable, "-m", "gpuwatch_pod", *args]


def demo_arguments(nodes: int, scenarios: Sequence[str] = (), gpus: int = 8, seed: int = 0) -> list[str]:
    args = ["demo", "--nodes", str(nodes), "--gpus", str(gpus), "--seed", str(seed)]
    for scenario in scenarios:
        args += ["--scenario", scenario]
    return args


@dataclass
class DemoCluster:
    process: subprocess.Popen[str]
    nodes: list[NodeConfig] = field(default_factory=list)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the child's stdin (its signal to stop) and wait; kill it if it lingers."""
        if self.process.poll() is not None:
            return
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _read_nodes(process: subprocess.Popen[str]) -> list[NodeConfig]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise GpuwatchError(f"the demo cluster exited before it started (exit code {process.wait()})")
    try:
        return [NodeConfig(n["name"], n["url"], n.get("logs_url", ""), n.get("slurm_url", ""))
                for n in json.loads(line)["nodes"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise GpuwatchError(f"the demo cluster printed something unexpected: {line[:200]!r}") from exc


async def start_demo_cluster(nodes: int, scenarios: Sequence[str] = (), gpus: int = 8) -> DemoCluster:
    """Start the simulated cluster; returns once it listens (the blocking read runs on a worker thread)."""
    process = subprocess.Popen(
        pod_command(*demo_arguments(nodes, scenarios, gpus)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    cluster = DemoCluster(process)
    try:
        cluster.nodes = await asyncio.wait_for(asyncio.to_thread(_read_nodes, process), START_TIMEOUT_S)
    except BaseException:
        cluster.stop(timeout_s=1.0)
        raise
    return cluster
