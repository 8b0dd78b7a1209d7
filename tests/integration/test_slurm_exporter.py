"""The Slurm exporter over loopback HTTP, fed by stand-in sinfo/squeue executables on PATH.

The stand-ins replay the output recorded from a real Slurm 22.05 (tests/data/slurm/) and can be made
to fail, hang, refuse ``--json`` or take a while, through marker files next to them. Every call is
logged, with "overlap" when one starts while another is still running.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpuwatch_pod.slurm_collect import SlurmCommands
from gpuwatch_pod.slurm_exporter import SlurmExporter
from gpuwatch_pod.slurm_model import SlurmSnapshot
from gpuwatch_pod.slurm_sim import DRAIN_REASON, SimSlurm

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"
TOKEN = "slurm-s3cret"
STANDIN = """#!/bin/bash
dir="$(dirname "$0")"; name="$(basename "$0")"
echo "$name $*" >> "$dir/calls.log"
if [ -e "$dir/hang-$name" ]; then echo $$ > "$dir/hung.pid"; exec sleep 60; fi
if [ -e "$dir/fail-$name" ]; then
    echo "$name: error: slurm_load_node error: Unable to contact slurm controller (connect failure)" >&2; exit 1
fi
if [ -e "$dir/nojson" ] && [[ " $* " == *" --json "* ]]; then
    echo "$name: unrecognized option '--json'" >&2; echo "Try \\"$name --help\\" for more information" >&2; exit 1
fi
mkdir "$dir/busy" 2>/dev/null || echo overlap >> "$dir/calls.log"
[ -e "$dir/slow" ] && sleep 0.3
case "$name $*" in
    "sinfo "*--json*) cat "{data}/sinfo.json" ;;
    "sinfo "*-O*) cat "{data}/sinfo_nodes.txt" ;;
    "sinfo "*) cat "{data}/sinfo_partitions.txt" ;;
    "squeue "*--json*) cat "{data}/squeue.json" ;;
    *) cat "{data}/squeue.txt" ;;
esac
rmdir "$dir/busy"
"""


class StandIns:
    """A bin dir with stand-in sinfo and squeue; ``set("fail-sinfo")`` etc. switches a behaviour on."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        for name in ("sinfo", "squeue"):
            path = self.bin / name
            path.write_text(STANDIN.replace("{data}", str(DATA)))
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.env = {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "TZ": "UTC"}

    def set(self, marker: str, on: bool = True) -> None:
        path = self.bin / marker
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)

    def calls(self) -> list[str]:
        log = self.bin / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def commands(self, timeout_s: float = 5.0, mode: Any = "auto") -> SlurmCommands:
        return SlurmCommands(timeout_s=timeout_s, mode=mode, env=self.env)


@pytest.fixture
def standins(tmp_path: Path) -> StandIns:
    return StandIns(tmp_path)


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[SlurmExporter] = []

    def start(source: Any, **kwargs: Any) -> SlurmExporter:
        exporter = SlurmExporter(source, port=0, **kwargs).start()
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.close()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], read by the Prometheus client's own parser."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matches = [v for lab, v in metrics[name] if lab == labels]
    assert len(matches) == 1, (name, labels, metrics.get(name))
    return matches[0]


def get(exporter: SlurmExporter, path: str, **params: str) -> httpx.Response:
    return httpx.get(exporter.url + path, params=params, timeout=10)


@pytest.mark.parametrize("mode", ["json", "text"])
def test_recorded_cluster_numbers(standins: StandIns, serve: Any, mode: str) -> None:
    exporter = serve(standins.commands(mode=mode))
    resp = get(exporter, "/metrics")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = samples(resp.text)
    assert value(m, "slurm_exporter_up") == 1
    assert {n: value(m, f"slurm_nodes_{n}") for n in ("mix", "drain", "idle", "alloc", "down", "other")} == {
        "mix": 1, "drain": 1, "idle": 0, "alloc": 0, "down": 0, "other": 0}
    assert [value(m, f"slurm_cpus_{k}") for k in ("alloc", "idle", "other", "total")] == [6, 2, 4, 12]
    assert [value(m, f"slurm_gpus_{k}") for k in ("alloc", "idle", "other", "total")] == [2, 0, 1, 3]
    assert value(m, "slurm_gpus_utilization") == pytest.approx(2 / 3)
    assert (value(m, "slurm_queue_pending"), value(m, "slurm_queue_running")) == (3, 3)
    assert value(m, "slurm_partition_cpus_total", partition="gpu") == 12
    assert value(m, "slurm_partition_cpus_total", partition="debug") == 8
    assert value(m, "slurm_partition_gpus_allocated", partition="debug") == 2
    assert value(m, "slurm_partition_jobs_pending", partition="gpu") == 3
    assert value(m, "slurm_partition_jobs_running", partition="debug") == 1
    assert value(m, "slurm_user_jobs_running", user="nobody") == 1
    assert value(m, "slurm_user_cpus_running", user="root") == 4
    assert value(m, "slurm_exporter_collect_errors_total", command="squeue") == 0


def test_jobs_and_nodes_json(standins: StandIns, serve: Any) -> None:
    exporter = serve(standins.commands(), min_interval_s=60)
    body = get(exporter, "/jobs").json()
    assert body["error"] is None and body["collected_at"] > 0
    jobs = {job["id"]: job for job in body["jobs"]}
    assert sorted(jobs) == ["1", "2", "3", "4", "5", "6_[1-3]"]
    assert jobs["4"] == {
        "id": "4", "name": "big", "user": "root", "partition": "gpu", "state": "PENDING", "reason": "Resources",
        "nodes": "", "num_nodes": 1, "cpus": 1, "gpus": 2, "submit_time": jobs["4"]["submit_time"],
        "start_time": None, "time_limit_s": 300,
    }
    running = get(exporter, "/jobs", state="running,Completing").json()["jobs"]
    assert sorted(j["id"] for j in running) == ["1", "2", "3"]
    assert [j["name"] for j in get(exporter, "/jobs", user="nobody").json()["jobs"]] == ["cpu-only"]
    nodes = get(exporter, "/nodes").json()
    assert [(n["name"], n["state"], n["reason"]) for n in nodes["nodes"]] == [
        ("gw1", "mixed", ""), ("gw2", "drained", "GPU XID 79")]
    gpu = nodes["partitions"][0]
    assert gpu == {"name": "gpu", "default": True, "state": "up", "nodes": ["gw1", "gw2"], "cpus_total": 12,
                   "cpus_alloc": 6, "gpus_total": 3, "gpus_alloc": 2, "time_limit_s": 3600, "jobs_pending": 3,
                   "jobs_running": 2}
    assert nodes["partitions"][1]["name"] == "debug" and nodes["partitions"][1]["time_limit_s"] is None
    assert get(exporter, "/health").text == "ok\n"
    assert get(exporter, "/nope").status_code == 404


def test_auto_mode_falls_back_to_text_once(standins: StandIns, serve: Any) -> None:
    standins.set("nojson")
    commands = standins.commands()
    exporter = serve(commands, min_interval_s=0)
    for _ in range(2):
        assert value(samples(get(exporter, "/metrics").text), "slurm_exporter_up") == 1
    assert commands.mode == "text"
    assert [c for c in standins.calls() if "--json" in c] == ["sinfo -N --json"]  # asked once, then never again


def test_failing_command_is_an_error_metric_and_message(standins: StandIns, serve: Any) -> None:
    standins.set("fail-sinfo")
    exporter = serve(standins.commands(), min_interval_s=0)
    m = samples(get(exporter, "/metrics").text)
    assert value(m, "slurm_exporter_up") == 0
    assert value(m, "slurm_exporter_collect_errors_total", command="sinfo") == 1
    assert "slurm_nodes_idle" not in m and "slurm_queue_pending" not in m
    assert "slurm_exporter_last_collect_timestamp_seconds" not in m  # nothing was ever collected
    body = get(exporter, "/jobs").json()
    assert body["jobs"] == [] and body["error"] == (
        "sinfo failed (exit 1): sinfo: error: slurm_load_node error: Unable to contact slurm controller "
        "(connect failure)")
    assert value(samples(get(exporter, "/metrics").text), "slurm_exporter_collect_errors_total",
                 command="sinfo") == 3


def test_hanging_command_times_out_and_the_exporter_keeps_answering(standins: StandIns, serve: Any) -> None:
    commands = standins.commands(timeout_s=1)
    exporter = serve(commands, min_interval_s=0)
    good = get(exporter, "/jobs").json()
    standins.set("hang-squeue")
    body = get(exporter, "/jobs").json()
    assert body["error"] == "squeue timed out after 1 s"
    assert body["jobs"] == good["jobs"] and body["collected_at"] == good["collected_at"]  # stale, and says so
    hung = int((standins.bin / "hung.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(hung, 0)  # killed and reaped, not left behind
    m = samples(get(exporter, "/metrics").text)
    assert value(m, "slurm_exporter_up") == 0 and "slurm_cpus_total" not in m
    assert value(m, "slurm_exporter_collect_errors_total", command="squeue") == 2
    assert value(m, "slurm_exporter_last_collect_timestamp_seconds") == good["collected_at"]
    nodes = get(exporter, "/nodes").json()
    assert nodes["error"] == "squeue timed out after 1 s" and len(nodes["nodes"]) == 2
    standins.set("hang-squeue", on=False)
    recovered = get(exporter, "/jobs").json()
    assert recovered["error"] is None and recovered["collected_at"] > good["collected_at"]


def test_concurrent_scrapes_share_one_collection(standins: StandIns, serve: Any) -> None:
    standins.set("slow")
    exporter = serve(standins.commands(), min_interval_s=60)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        for _ in range(2):
            paths = ["/metrics", "/jobs", "/nodes", "/metrics"] * 5
            replies = list(pool.map(lambda p: get(exporter, p), paths))
            assert all(r.status_code == 200 for r in replies)
    assert standins.calls() == ["sinfo -N --json", "sinfo -h -o %P|%a|%l", "squeue --json"]


def test_collections_never_overlap_even_without_a_rate_limit(standins: StandIns, serve: Any) -> None:
    standins.set("slow")
    exporter = serve(standins.commands(), min_interval_s=0)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        for _ in range(3):
            replies = list(pool.map(lambda _: get(exporter, "/metrics"), range(20)))
            assert all(value(samples(r.text), "slurm_exporter_up") == 1 for r in replies)
    calls = standins.calls()
    assert "overlap" not in calls
    assert calls.count("squeue --json") >= 3  # one collection per wave at least, each run alone


def test_token_required(standins: StandIns, serve: Any) -> None:
    exporter = serve(standins.commands(), token=TOKEN)
    for path in ("/metrics", "/jobs", "/nodes", "/health"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            resp = httpx.get(exporter.url + path, headers=headers, timeout=5)
            assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        assert httpx.get(exporter.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).is_success
    assert standins.calls() == ["sinfo -N --json", "sinfo -h -o %P|%a|%l", "squeue --json"]  # 401s ask nothing


class _BrokenSource:
    """A source with a bug: the exporter must report it, not die."""

    def collect(self) -> SlurmSnapshot:
        raise KeyError("nodes")


def test_a_source_that_raises_is_reported(serve: Any) -> None:
    exporter = serve(_BrokenSource(), min_interval_s=0)
    body = get(exporter, "/jobs").json()
    assert body["error"] == "collecting from Slurm failed: KeyError: 'nodes'" and body["jobs"] == []
    assert value(samples(get(exporter, "/metrics").text), "slurm_exporter_up") == 0


def test_simulated_cluster_is_served(serve: Any) -> None:
    exporter = serve(SimSlurm(["node-1", "node-2"], drained_node="node-3", seed=3), min_interval_s=0)
    nodes = get(exporter, "/nodes").json()
    assert [n["name"] for n in nodes["nodes"]] == ["node-1", "node-2", "node-3"]
    assert (nodes["nodes"][2]["state"], nodes["nodes"][2]["reason"]) == ("drained", DRAIN_REASON)
    assert [(p["name"], p["default"]) for p in nodes["partitions"]] == [("gpu", True), ("debug", False)]
    m = samples(get(exporter, "/metrics").text)
    assert value(m, "slurm_nodes_drain") == 1 and value(m, "slurm_gpus_total") == 24
    assert value(m, "slurm_gpus_other") == 8
    jobs = get(exporter, "/jobs").json()["jobs"]
    assert jobs and all(j["state"] in ("PENDING", "RUNNING", "COMPLETING") for j in jobs)
    assert value(m, "slurm_gpus_alloc") == sum(j["gpus"] for j in jobs if j["state"] != "PENDING")


def test_cli_serves_the_simulation_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpuwatch_pod", "slurm-exporter", "--sim", "2", "--port", "0", "--host", "127.0.0.1",
         "--min-interval", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "GPUWATCH_POD_TOKEN": TOKEN},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert line.startswith("serving http://127.0.0.1:") and "simulated, 2 nodes + 1 drained" in line
        base = line.split()[1].removesuffix("/metrics,")
        assert httpx.get(base + "/nodes", timeout=5).status_code == 401
        nodes = httpx.get(base + "/nodes", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
        assert [n["name"] for n in nodes["nodes"]] == ["node-1", "node-2", "node-3"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_cli_rejects_bad_arguments() -> None:
    for args in (["--timeout", "0"], ["--sim", "0"], ["--min-interval", "-1"]):
        done = subprocess.run([sys.executable, "-m", "gpuwatch_pod", "slurm-exporter", "--port", "0", *args],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 2 and done.stderr.startswith("gpuwatch-pod: error: "), done.stderr


def test_missing_slurm_client_is_a_clear_error(tmp_path: Path) -> None:
    snapshot = SlurmCommands(env={"PATH": str(tmp_path)}).collect()
    assert snapshot.error == "sinfo not found (sinfo): is the Slurm client installed and on PATH?"
    assert snapshot.collect_errors == (("sinfo", 1), ("squeue", 0)) and not snapshot.has_data
