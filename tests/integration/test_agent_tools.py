"""The agent's tools over real data: the simulated exporters polled into a ClusterState, a real history file,
the alert engine with the default rules. What the model would be sent is parsed and checked against that data.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpuwatch_desktop.agent.calls import Call, Outcome, ToolRunner
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.agent.tools_external import LOGS_NOT_CONNECTED, SLURM_NOT_CONNECTED
from gpuwatch_desktop.alerts.rules_file import default_rules
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.alerts import AlertState
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.alerts_service import AlertService
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.poller import Poller
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_pod.demo_cluster import start_demo_cluster

ROUNDS = 3


@dataclass
class Polled:
    state: ClusterState
    db: Path


async def _poll(state: ClusterState, db: Path, nodes: list[NodeConfig]) -> None:
    history = HistoryWorker(lambda: HistoryStore(db))
    await history.open()
    service = AlertService(state, history, defaults=default_rules)
    await service.start()
    poller = Poller(state, history.write_round, interval_s=0.5, timeout_s=0.4)
    await poller.set_nodes(nodes)
    for _ in range(ROUNDS):
        await poller.poll_round()
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 5
    while not any(a.state is AlertState.FIRING for a in state.alerts) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await service.aclose()
    await poller.aclose()
    await history.close()


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Polled]:
    """Three rounds of a 3-node demo: node-2's GPU 3 hits XID 48, node-3 serves garbage."""
    db = tmp_path_factory.mktemp("agent-tools") / "history.sqlite3"
    state = ClusterState()
    with start_demo_cluster(nodes=3, gpus_per_node=4, seed=5, scenarios={"node-2": "xid"}) as cluster:
        cluster.set_scenario("node-3", "garbage")
        asyncio.run(_poll(state, db, [NodeConfig(n, u) for n, u in cluster.nodes]))
    yield Polled(state, db)


def call(polled: Polled | None, name: str, history: bool = True, state: ClusterState | None = None,
         db: Path | None = None, budgets: dict[str, int] | None = None, **arguments: Any) -> Outcome:
    """Run one tool as the loop would (arguments as JSON text) over the polled data; the outcome sent back."""
    state = state or (polled.state if polled else ClusterState())
    db = db or (polled.db if polled and history else None)

    async def go() -> Outcome:
        worker = HistoryWorker(lambda: HistoryStore(db)) if db else None
        if worker is not None:
            await worker.open()
        try:
            runner = ToolRunner(default_tools(budgets=budgets), AppClusterData(state, worker))
            return await runner.one(Call("c1", name, json.dumps(arguments)))
        finally:
            if worker is not None:
                await worker.close()

    return asyncio.run(go())


def value(outcome: Outcome) -> Any:
    assert outcome.ok, outcome.result
    return json.loads(outcome.result)


def test_cluster_status_sums_up_every_node(polled: Polled) -> None:
    outcome = call(polled, "cluster_status")
    status = value(outcome)
    assert status["gpus"] == 8 and status["nodes_by_state"] == {"up": 2, "down": 1}
    nodes = {n["node"]: n for n in status["nodes"]}
    assert nodes["node-2"]["xid_errors"] == [{"gpu": 3, "xid": 48}]
    assert nodes["node-3"]["state"] == "down" and nodes["node-3"]["reason"].startswith("bad payload")
    snap = polled.state.view("node-1").snapshot  # type: ignore[union-attr]
    assert snap is not None
    utils = [g.value("gpu_util") or 0.0 for g in snap.gpus]
    assert nodes["node-1"]["gpu_util_mean_pct"] == round(sum(utils) / 4, 1)
    assert status["alerts"]["firing"] >= 1
    assert outcome.summary == f"3 nodes (2 up, 1 down), 8 GPUs, {status['alerts']['firing']} alerts firing"


def test_gpu_metrics_shows_values_with_units_and_levels(polled: Polled) -> None:
    metrics = value(call(polled, "gpu_metrics", node="node-1", gpu=2))
    [gpu] = metrics["gpus"]
    snap = polled.state.view("node-1").snapshot  # type: ignore[union-attr]
    assert snap is not None
    real: GpuSnapshot = snap.gpus[2]
    assert gpu["gpu"] == 2 and gpu["uuid"] == real.uuid
    temp = real.value("gpu_temp")
    assert temp is not None and gpu["metrics"]["gpu_temp"].startswith(f"{round(temp, 1):g} °C")
    assert gpu["metrics"]["fb_used"] == f"{real.value('fb_used'):g} MiB"
    everything = value(call(polled, "gpu_metrics", node="node-2"))
    assert [g["gpu"] for g in everything["gpus"]] == [0, 1, 2, 3]
    assert everything["gpus"][3]["metrics"]["xid"] == "48 (warn)"


def test_gpu_metrics_of_an_unknown_node_or_gpu_names_what_exists(polled: Polled) -> None:
    unknown = call(polled, "gpu_metrics", node="node-9")
    assert not unknown.ok
    assert unknown.result == "Error: gpu_metrics: no node named 'node-9'; watched nodes: node-1, node-2, node-3"
    assert call(polled, "gpu_metrics", node="node-1", gpu=7).result.endswith("has no GPU 7; its GPUs: 0, 1, 2, 3")
    assert "has no data yet" in call(polled, "gpu_metrics", node="node-3").result


def test_active_alerts_and_alert_history_show_the_xid(polled: Polled) -> None:
    alerts = value(call(polled, "active_alerts"))["alerts"]
    xid = [a for a in alerts if a["rule"] == "XID error"]
    assert [(a["node"], a["gpu"], a["state"], a["severity"]) for a in xid] == [("node-2", 3, "firing", "critical")]
    assert alerts[0]["severity"] == "critical"  # worst first
    for rule in ("XID error", "xid-error"):
        events = value(call(polled, "alert_history", since="1h", rule=rule))["events"]
        assert [(e["node"], e["gpu"], e["change"]) for e in events] == [("node-2", 3, "inactive -> firing")]
    assert call(polled, "alert_history", since="1h", node="node-1", rule="xid-error").result == (
        "No alert events in the last 1h.")
    assert call(polled, "alert_history", since="soon").result.startswith("Error: alert_history: 'soon' is not")


def test_top_gpu_processes_are_the_biggest_first(polled: Polled) -> None:
    listed = value(call(polled, "top_gpu_processes", limit=3))
    every = [p for v in polled.state.views() if v.snapshot for p in v.snapshot.processes]
    assert listed["total_processes"] == len(every) > 3
    used = [p["used_mib"] for p in listed["processes"]]
    assert len(used) == 3 and used == sorted(used, reverse=True) and used[0] == max(p.used_mib for p in every)


def test_metric_history_falls_back_to_live_data_without_a_database(polled: Polled) -> None:
    stats = value(call(polled, "metric_history", history=False, metric="gpu_temp", node="node-1", gpu=0))
    assert stats["points"] == ROUNDS and stats["unit"] == "°C"
    assert stats["min"] <= stats["mean"] <= stats["max"]


def test_output_over_its_budget_is_cut_with_a_marker(polled: Polled) -> None:
    outcome = call(polled, "gpu_metrics", budgets={"gpu_metrics": 300}, node="node-1")
    assert outcome.ok and outcome.summary == "4 GPUs on node-1 (truncated)" and len(outcome.result) <= 1200
    gpus = json.loads(outcome.result)["gpus"]
    assert gpus[-1] == f"… truncated ({5 - len(gpus)} more items)"


def test_slurm_and_logs_say_they_are_not_connected(polled: Polled) -> None:
    for name in ("slurm_status", "slurm_jobs"):
        outcome = call(polled, name)
        assert outcome.ok and outcome.result == SLURM_NOT_CONNECTED
        assert outcome.result.startswith("Slurm is not connected in this app yet (no Slurm exporter configured)")
    assert call(polled, "service_logs", service="vllm").result == LOGS_NOT_CONNECTED


def _write_ramp(db: Path, now: float) -> None:
    """One hour of one GPU on node lab-1, a sample a minute: utilisation 0, 1, ... 59 %."""
    with HistoryStore(db) as store:
        for i in range(60):
            t = now - 3600 + 60 * i
            gpu = GpuSnapshot(0, "GPU-lab", "H100", "00:01", {"gpu_util": float(i), "gpu_temp": 60.0 + i / 2})
            store.write_round([NodeSnapshot("lab-1", "lab-1", t, (gpu,))])


def test_metric_history_reports_statistics_and_a_few_points(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    _write_ramp(db, time.time())
    outcome = call(None, "metric_history", db=db, metric="gpu_util", node="lab-1", gpu=0, range="2h")
    stats = value(outcome)
    assert (stats["points"], stats["min"], stats["max"], stats["last"], stats["mean"]) == (60, 0, 59, 59, 29.5)
    assert 55 <= stats["p95"] <= 57
    assert stats["trend"]["direction"] == "rising" and stats["trend"]["change_per_hour"] == pytest.approx(60, abs=1)
    assert len(stats["sampled"]) == 12 and stats["sampled"][0][1] == 2.0 and stats["sampled"][-1][1] == 57.0
    assert len(outcome.result) < 1000  # statistics, not a dump of 60 rows
    assert outcome.summary == "GPU utilisation lab-1/0 over 2h: last 59 %"
    temp = value(call(None, "metric_history", db=db, metric="gpu_temp", node="lab-1", gpu=0, range="15m"))
    assert temp["points"] in (14, 15, 16) and temp["time_at_or_above_warn_80_pct"] == 100
    assert temp["time_at_or_above_crit_87_pct"] == round(100 * 6 / temp["points"], 1)  # 87 °C from minute 54 on


def test_metric_history_without_values_or_gpu_says_so(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    _write_ramp(db, time.time())
    empty = call(None, "metric_history", db=db, metric="power", node="lab-1", gpu=0)
    assert empty.ok and empty.result == "No Power draw values for lab-1 GPU 0 in the last 1h."
    missing = call(None, "metric_history", db=db, metric="power", node="lab-1", gpu=5)
    assert missing.result == "Error: metric_history: no history for lab-1 GPU 5; GPUs with history (node/gpu): lab-1/0"
