"""`gpuwatch ask` against the loopback OpenAI test server and the simulated exporters, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig, Settings, save_settings
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState, SeriesKey, Severity
from gpuwatch_desktop.services.ask_cli import NOT_CONFIGURED, run_ask
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_pod.demo_cluster import DemoCluster, start_demo_cluster
from tests.openai_server import OpenAIServer, error, text, tool_calls
from tests.unit.test_secrets import MemoryKeyring

ROOT = Path(__file__).resolve().parents[2]
NO_KEYRING = "keyring.backends.fail.Keyring"


@pytest.fixture(scope="module")
def cluster() -> Iterator[DemoCluster]:
    with start_demo_cluster(nodes=2, gpus_per_node=4, seed=11) as demo:
        yield demo


def settings_file(tmp_path: Path, cluster: DemoCluster, server: OpenAIServer | None) -> Path:
    llm = LlmConfig(base_url=server.base_url, model="test-model", timeout_s=5) if server else LlmConfig()
    path = tmp_path / "settings.json"
    save_settings(Settings(nodes=tuple(NodeConfig(n, u) for n, u in cluster.nodes), llm=llm), path)
    return path


def ask(*argv: str, secrets: SecretStore | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_ask(list(argv), out, err, secrets or SecretStore(backend=MemoryKeyring()))
    return code, out.getvalue(), err.getvalue()


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_the_answer_streams_to_stdout_after_one_poll_and_the_steps_go_to_stderr(
        tmp_path: Path, cluster: DemoCluster) -> None:
    script = [tool_calls(("cluster_status", {}), ("gpu_metrics", {"node": "node-2", "gpu": 1})),
              text("Both nodes are up; nothing is wrong.")]
    with OpenAIServer(script) as server:
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": NO_KEYRING, "OPENAI_API_KEY": "sk-from-env"}
        result = subprocess.run(
            [sys.executable, "-m", "gpuwatch_desktop", "ask", "What's wrong with the cluster?",
             "--config", str(settings_file(tmp_path, cluster, server)), "--data-dir", str(tmp_path / "none")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        recorded = server.recorded
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Both nodes are up; nothing is wrong.\n"
    assert "[cluster_status ok: 2 nodes (2 up), 8 GPUs, 0 alerts firing (" in result.stderr
    assert "[gpu_metrics ok: GPU 1 on node-2 (" in result.stderr
    assert recorded[0].headers["authorization"] == "Bearer sk-from-env"
    status, metrics = tool_results(recorded[1].body)
    assert [n["node"] for n in json.loads(status)["nodes"]] == ["node-1", "node-2"]
    assert json.loads(metrics)["gpus"][0]["model"]
    assert recorded[0].body["messages"][1] == {"role": "user", "content": "What's wrong with the cluster?"}


def _history(data_dir: Path) -> None:
    now = time.time()
    with HistoryStore(data_dir / "history.sqlite3") as store:
        alerts = store.alerts()
        alerts.replace_active([ActiveAlert(SeriesKey("gpu-hot", "node-1", 2), "GPU too hot", AlertState.FIRING,
                                           Severity.CRITICAL, since=now - 300, active_since=now - 330, value=91.0,
                                           summary="GPU 2 on node-1 at 91 °C")])
        alerts.record_events([AlertEvent(now - 300, "gpu-hot", "GPU too hot", "node-1", 2, AlertState.FIRING,
                                         AlertState.PENDING, Severity.CRITICAL, 91.0, "GPU 2 on node-1 at 91 °C")])


def test_json_lists_the_steps_and_reads_alerts_from_the_history(tmp_path: Path, cluster: DemoCluster) -> None:
    _history(tmp_path)
    script = [tool_calls(("active_alerts", {}), ("alert_history", {"since": "1h"}), ("gpu_metrics", "{oops")),
              text("GPU 2 on node-1 is too hot.")]
    with OpenAIServer(script) as server:
        code, out, err = ask("Anything hot?", "--json", "--config", str(settings_file(tmp_path, cluster, None)),
                             "--data-dir", str(tmp_path), "--base-url", server.base_url, "--model", "override")
        requests = server.requests
    assert code == 0, err
    report = json.loads(out)
    assert report["answer"] == "GPU 2 on node-1 is too hot." and report["forced"] is False
    steps = report["steps"]
    assert [(s["tool"], s["ok"]) for s in steps] == [("active_alerts", True), ("alert_history", True),
                                                    ("gpu_metrics", False)]
    assert steps[0]["arguments"] == {} and steps[1]["arguments"] == {"since": "1h"}
    assert steps[2]["arguments"] == "{oops"  # as the model sent it
    assert steps[0]["summary"] == "1 active (1 firing)" and steps[1]["summary"] == "1 events in 1h"
    assert all(isinstance(s["duration_ms"], float) for s in steps)
    assert requests[0]["model"] == "override"
    active, events, _ = tool_results(requests[1])
    assert json.loads(active)["alerts"][0]["summary"] == "GPU 2 on node-1 at 91 °C"
    assert json.loads(events)["events"][0]["change"] == "pending -> firing"


def test_the_key_in_the_keyring_is_used_before_the_environment(
        tmp_path: Path, cluster: DemoCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    secrets = SecretStore(backend=MemoryKeyring())
    secrets.set(LLM_API_KEY_SECRET, "sk-from-keyring")
    with OpenAIServer([text("Fine.")]) as server:
        code, out, _ = ask("Status?", "--config", str(settings_file(tmp_path, cluster, server)),
                           "--data-dir", str(tmp_path), secrets=secrets)
        assert server.recorded[0].headers["authorization"] == "Bearer sk-from-keyring"
    assert (code, out) == (0, "Fine.\n")


def test_without_a_model_it_says_how_to_configure_one(tmp_path: Path, cluster: DemoCluster) -> None:
    code, out, err = ask("Status?", "--config", str(settings_file(tmp_path, cluster, None)))
    assert code == 2 and out == ""
    assert err.startswith(NOT_CONFIGURED) and "--base-url URL --model NAME" in err


def test_a_failing_model_server_is_exit_1_with_the_reason(tmp_path: Path, cluster: DemoCluster) -> None:
    with OpenAIServer([error(503, "model is loading")]) as server:
        config = str(settings_file(tmp_path, cluster, server))
        code, out, err = ask("Status?", "--config", config, "--data-dir", str(tmp_path))
        server.add(error(503, "model is loading"))
        json_code, json_out, _ = ask("Status?", "--json", "--config", config, "--data-dir", str(tmp_path))
    assert (code, out) == (1, "")
    assert err.startswith("gpuwatch ask: The model server failed (HTTP 503: model is loading).")
    report = json.loads(json_out)
    assert json_code == 1 and report["answer"] is None and report["error"]["kind"] == "server"


def test_a_bad_settings_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"llm": {"base_url": "ftp://x", "model": "m"}}')
    code, _, err = ask("Status?", "--config", str(path))
    assert code == 2 and "is not an http(s) URL" in err


def test_slurm_and_log_tools_read_the_pods_services(tmp_path: Path) -> None:
    script = [tool_calls(("slurm_status", {}), ("service_logs", {"service": "vllm", "lines": 5})),
              text("Slurm has a drained node; vLLM is loading.")]
    with start_demo_cluster(nodes=2, gpus_per_node=2, seed=3, services=True) as demo, OpenAIServer(script) as server:
        nodes = tuple(NodeConfig(r["name"], r["url"], r.get("logs_url", ""), r.get("slurm_url", ""))
                      for r in demo.node_records())
        path = tmp_path / "settings.json"
        save_settings(Settings(nodes=nodes, llm=LlmConfig(base_url=server.base_url, model="m", timeout_s=5)), path)
        code, out, _err = ask("What is Slurm doing?", "--config", str(path), "--data-dir", str(tmp_path))
        results = tool_results(server.requests[-1])
    assert code == 0 and "drained node" in out
    assert "node-3" in results[0] and "GPU XID 79" in results[0]  # the drained node and Slurm's reason
    assert "vLLM API server version" in results[1] or "Loading safetensors" in results[1]
