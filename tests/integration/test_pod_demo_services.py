"""The demo's simulated pod services: logs written like the real services and served by the real LogServer."""

from __future__ import annotations

from pathlib import Path

import httpx

from gpuwatch_pod.demo_cluster import start_demo_cluster
from gpuwatch_pod.logserver import LogServer
from gpuwatch_pod.simlogs import SHARDS, SimLogs


def test_vllm_log_loads_shards_then_reports_ready(tmp_path: Path) -> None:
    logs = SimLogs(tmp_path, ["node-1", "node-2"], head="node-1")
    vllm = logs.paths("node-1")["vllm"]
    assert "vllm" not in logs.paths("node-2")
    for _ in range(4):
        logs.tick()
    assert "Loading safetensors checkpoint shards:" in vllm.read_text()
    assert "Application startup complete" not in vllm.read_text()
    for _ in range(2 * SHARDS + 10):
        logs.tick()
    text = vllm.read_text()
    assert f"100% Completed | {SHARDS}/{SHARDS}" in text
    assert text.index(f"| {SHARDS}/{SHARDS}") < text.index("INFO:     Application startup complete.")
    for _ in range(40):
        logs.tick()
    assert "Avg generation throughput" in vllm.read_text()
    assert "sched: Allocate JobId=" in logs.paths("node-1")["slurmctld"].read_text()


def test_a_growing_log_is_rotated_and_still_served(tmp_path: Path) -> None:
    logs = SimLogs(tmp_path, ["node-1"], head="node-1", rotate_bytes=2000)
    server = LogServer(logs.paths("node-1"), "127.0.0.1", 0).start()
    try:
        for _ in range(60):
            logs.tick()
        assert (tmp_path / "node-1-vllm.log.1").exists()
        tail = httpx.get(f"{server.url}/logs/vllm", params={"lines": 3})
        assert tail.status_code == 200 and len(tail.text.splitlines()) == 3
    finally:
        server.close()


def test_demo_cluster_with_services_serves_each_nodes_logs() -> None:
    with start_demo_cluster(2, 1, services=True) as cluster:
        records = cluster.node_records()
        assert [r["name"] for r in records] == ["node-1", "node-2"]
        head = {e["name"] for e in httpx.get(records[0]["logs_url"] + "/logs").json()}
        worker = {e["name"] for e in httpx.get(records[1]["logs_url"] + "/logs").json()}
        assert head == {"vllm", "slurmctld", "slurmd", "gpu-exporter"}
        assert worker == {"slurmd", "gpu-exporter"}
        assert "vLLM API server version" in httpx.get(records[0]["logs_url"] + "/logs/vllm").text
        assert "slurm_url" in records[0] and "slurm_url" not in records[1]
        nodes = httpx.get(records[0]["slurm_url"] + "/nodes").json()["nodes"]
        assert {n["name"]: n["state"] for n in nodes} == {"node-1": nodes[0]["state"], "node-2": nodes[1]["state"],
                                                        "node-3": "drained"}
        assert {n["gpus_total"] for n in nodes} == {1}
        assert "slurm_nodes_drain 1" in httpx.get(records[0]["slurm_url"] + "/metrics").text
    assert cluster.log_servers == {} and cluster.sim_logs is None and cluster.slurm is None


def test_demo_cluster_without_services_has_exporters_only() -> None:
    with start_demo_cluster(1, 1) as cluster:
        assert cluster.node_records() == [{"name": "node-1", "url": cluster.nodes[0][1]}]
