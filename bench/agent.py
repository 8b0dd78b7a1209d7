"""Agent benchmark: the time the app adds to each agent step on top of the model server's own latency.

The loopback OpenAI test server (tests/openai_server.py) answers with zero delay and times its own handling
of each request (from the request body read to the last byte sent). Each run asks one question of the real
``AgentSession`` over the real ``openai`` client: 9 tool-call steps (cluster_status, gpu_metrics,
active_alerts, metric_history over the live data of a simulated 2 × 8-GPU cluster polled a few times), then
the answer on step 10 — as long a run as the default step limit allows. Overhead per step = (the run's wall
time − the server's handling time) / steps: request building and the openai client's work, loopback HTTP,
streaming parse, the tools, output fitting and the events. Target: <= 5 ms per step (named baseline
"agent step overhead 5 ms"). The LAST line prints the median over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpuwatch_desktop.agent.client import make_client  # noqa: E402
from gpuwatch_desktop.agent.events import AnswerFinished  # noqa: E402
from gpuwatch_desktop.agent.loop import AgentSession  # noqa: E402
from gpuwatch_desktop.agent.tools import default_tools  # noqa: E402
from gpuwatch_desktop.config.llm import LlmConfig  # noqa: E402
from gpuwatch_desktop.config.settings import NodeConfig  # noqa: E402
from gpuwatch_desktop.services.agent_data import AppClusterData  # noqa: E402
from gpuwatch_desktop.services.poller import Poller  # noqa: E402
from gpuwatch_desktop.services.state import ClusterState  # noqa: E402
from gpuwatch_pod.demo_cluster import start_demo_cluster  # noqa: E402
from tests.openai_server import OpenAIServer, Reply, text, tool_calls  # noqa: E402

TARGET_MS = 5.0
STEPS = 10
CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("cluster_status", {}), ("gpu_metrics", {"node": "node-1"}), ("active_alerts", {}),
    ("metric_history", {"metric": "gpu_temp", "node": "node-2", "gpu": 3, "range": "1h"}),
)


def script() -> list[Reply]:
    steps = [tool_calls(CALLS[i % len(CALLS)]) for i in range(STEPS - 1)]
    return [*steps, text("The cluster looks healthy: " + "all GPUs are within limits. " * 8)]


async def polled_state(rounds: int) -> ClusterState:
    state = ClusterState()
    with start_demo_cluster(nodes=2, gpus_per_node=8, seed=3) as cluster:
        poller = Poller(state, interval_s=1.0, timeout_s=0.9)
        await poller.set_nodes([NodeConfig(n, u) for n, u in cluster.nodes])
        for _ in range(rounds):
            await poller.poll_round()
            await asyncio.sleep(0.05)
        await poller.aclose()
    return state


async def measure(runs: int, warmup: int) -> list[float]:
    data = AppClusterData(await polled_state(5))
    per_step: list[float] = []
    with OpenAIServer() as server:
        config = LlmConfig(base_url=server.base_url, model="bench", timeout_s=10, max_steps=STEPS)
        client = make_client(config, "bench")
        session = AgentSession(client, config, default_tools(), data)
        try:
            for run in range(warmup + runs):
                server.add(*script())
                seen = len(server.recorded)
                started = time.perf_counter()
                events = [e async for e in session.run([], "What's wrong with the cluster?")]
                wall_ms = (time.perf_counter() - started) * 1000
                assert isinstance(events[-1], AnswerFinished) and events[-1].steps == STEPS, events[-1]
                server_ms = sum(r.handling_ms for r in server.recorded[seen:])
                if run >= warmup:
                    per_step.append((wall_ms - server_ms) / STEPS)
        finally:
            await client.close()
    return per_step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    per_step = asyncio.run(measure(args.runs, args.warmup))
    median = statistics.median(per_step)
    print(f"{len(per_step)} runs of {STEPS} steps (9 tool steps + the answer), server delay 0")
    print(f"overhead ms per step: min {min(per_step):.1f}, median {median:.1f}, max {max(per_step):.1f}")
    print(f"baseline 'agent step overhead {TARGET_MS:.0f} ms': {median / TARGET_MS:.2f}x of the budget")
    print(f"agent overhead ms per step: {median:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
