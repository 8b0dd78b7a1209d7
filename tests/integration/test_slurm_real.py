"""The Slurm exporter against a real one-node Slurm on localhost (see slurm_cluster.py), both output modes.

The cluster: gw1 (8 CPUs, 2 GPUs, mixed) and gw2 (4 CPUs, 1 GPU, drained "GPU XID 79"); partitions gpu
(default, 1 h) and debug (unlimited); three jobs running (train-a, train-b as root with one GPU each,
cpu-only as nobody), three pending (big: 2 GPUs, Resources; held; the array arr_[1-3]).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpuwatch_pod.slurm_collect import SlurmCommands
from gpuwatch_pod.slurm_exporter import SlurmExporter
from tests.integration.slurm_cluster import LocalSlurm, local_slurm_fixture  # noqa: F401 (the fixture)


def samples(text: str) -> dict[str, float]:
    """Sample name with its labels -> value, e.g. ``slurm_user_jobs_running{user=nobody}``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


@pytest.fixture(params=["json", "text"])
def exporter(request: pytest.FixtureRequest, local_slurm: LocalSlurm) -> Iterator[SlurmExporter]:
    commands = SlurmCommands(timeout_s=20, mode=request.param, env={"SLURM_CONF": str(local_slurm.conf)})
    served = SlurmExporter(commands, port=0, min_interval_s=0).start()
    yield served
    served.close()


def _get(exporter: SlurmExporter, path: str, **params: str) -> Any:
    resp = httpx.get(exporter.url + path, params=params, timeout=30)
    assert resp.status_code == 200
    return resp.json() if path != "/metrics" else samples(resp.text)


def test_metrics(exporter: SlurmExporter) -> None:
    m = _get(exporter, "/metrics")
    assert m["slurm_exporter_up"] == 1
    assert {k: m[f"slurm_nodes_{k}"] for k in ("mix", "drain", "idle", "alloc", "down", "other")} == {
        "mix": 1, "drain": 1, "idle": 0, "alloc": 0, "down": 0, "other": 0}
    assert [m[f"slurm_cpus_{k}"] for k in ("alloc", "idle", "other", "total")] == [6, 2, 4, 12]
    assert [m[f"slurm_gpus_{k}"] for k in ("alloc", "idle", "other", "total")] == [2, 0, 1, 3]
    assert (m["slurm_queue_running"], m["slurm_queue_pending"]) == (3, 3)
    assert m["slurm_partition_gpus_total{partition=gpu}"] == 3
    assert m["slurm_partition_jobs_running{partition=debug}"] == 1
    assert m["slurm_user_jobs_running{user=root}"] == 2 and m["slurm_user_jobs_pending{user=root}"] == 3
    assert m["slurm_user_cpus_running{user=nobody}"] == 2
    assert m["slurm_exporter_last_collect_timestamp_seconds"] == pytest.approx(time.time(), abs=60)


def test_job_list(exporter: SlurmExporter) -> None:
    body = _get(exporter, "/jobs")
    assert body["error"] is None
    # Other tests may leave finished jobs, which Slurm lists (and so do we) for MinJobAge.
    jobs = {job["name"]: job for job in body["jobs"] if job["state"] in ("PENDING", "RUNNING")}
    assert sorted(jobs) == ["arr", "big", "cpu-only", "held", "train-a", "train-b"]
    train_a = jobs["train-a"]
    assert (train_a["state"], train_a["nodes"], train_a["gpus"], train_a["cpus"], train_a["time_limit_s"]) == (
        "RUNNING", "gw1", 1, 2, 600)
    assert train_a["submit_time"] <= train_a["start_time"] <= time.time()
    assert (jobs["train-b"]["partition"], jobs["train-b"]["time_limit_s"]) == ("debug", None)
    assert (jobs["cpu-only"]["user"], jobs["cpu-only"]["gpus"]) == ("nobody", 0)
    big = jobs["big"]
    assert (big["state"], big["reason"], big["gpus"], big["nodes"], big["start_time"]) == (
        "PENDING", "Resources", 2, "", None)
    assert (jobs["held"]["state"], jobs["held"]["reason"]) == ("PENDING", "JobHeldUser")
    assert re.fullmatch(r"\d+_\[1-3\]", jobs["arr"]["id"]) and jobs["arr"]["reason"] in ("Priority", "Resources")
    pending = _get(exporter, "/jobs", state="pending")["jobs"]
    assert sorted(j["name"] for j in pending) == ["arr", "big", "held"]
    assert [j["name"] for j in _get(exporter, "/jobs", user="nobody")["jobs"]] == ["cpu-only"]


def test_nodes_and_partitions(exporter: SlurmExporter) -> None:
    body = _get(exporter, "/nodes")
    nodes = {n["name"]: n for n in body["nodes"]}
    assert (nodes["gw1"]["state"], nodes["gw1"]["cpus_alloc"], nodes["gw1"]["gpus_alloc"]) == ("mixed", 6, 2)
    assert (nodes["gw2"]["state"], nodes["gw2"]["reason"], nodes["gw2"]["memory_mb"]) == (
        "drained", "GPU XID 79", 500)
    parts = {p["name"]: p for p in body["partitions"]}
    assert (parts["gpu"]["default"], parts["gpu"]["time_limit_s"], sorted(parts["gpu"]["nodes"])) == (
        True, 3600, ["gw1", "gw2"])
    assert (parts["debug"]["default"], parts["debug"]["nodes"], parts["debug"]["jobs_running"]) == (
        False, ["gw1"], 1)


def test_auto_mode_finds_json_and_both_modes_agree(local_slurm: LocalSlurm) -> None:
    env = {"SLURM_CONF": str(local_slurm.conf)}
    auto = SlurmCommands(timeout_s=20, env=env)
    from_json = auto.collect()
    from_text = SlurmCommands(timeout_s=20, mode="text", env=env).collect()
    assert auto.mode == "json" and from_json.ok and from_text.ok
    assert sorted(from_json.jobs, key=lambda j: j.id) == sorted(from_text.jobs, key=lambda j: j.id)
    by_name = {n.name: n for n in from_text.nodes}
    assert sorted(by_name) == sorted(n.name for n in from_json.nodes)
    for node in from_json.nodes:  # the same numbers; partitions in whichever order each command lists them
        text_node = by_name[node.name]
        assert replace(node, partitions=()) == replace(text_node, partitions=())
        assert sorted(node.partitions) == sorted(text_node.partitions)


def test_a_cancelled_job_is_seen_in_both_modes(local_slurm: LocalSlurm) -> None:
    env = {"SLURM_CONF": str(local_slurm.conf)}
    modes = [SlurmCommands(timeout_s=20, mode="json", env=env), SlurmCommands(timeout_s=20, mode="text", env=env)]
    job_id = local_slurm.sbatch("-J", "short-lived", "-H")
    try:
        for commands in modes:
            job = {j.id: j for j in commands.collect().jobs}[job_id]
            assert (job.name, job.state, job.reason) == ("short-lived", "PENDING", "JobHeldUser")
    finally:
        local_slurm.run("scancel", job_id)
    local_slurm.wait_for(lambda: job_id not in local_slurm.states(), "the job to leave squeue's default list")
    for commands in modes:
        job = {j.id: j for j in commands.collect().jobs}[job_id]  # slurmctld remembers it for MinJobAge
        assert (job.state, job.queue_state) == ("CANCELLED", "cancelled")


@pytest.mark.parametrize(("mode", "start", "detail"), [
    ("json", "sinfo --json reported an error: ", "is slurmctld up and reachable? (try: scontrol ping)"),
    ("text", "sinfo failed (exit 1): ", "Unable to contact slurm controller"),
])
def test_controller_unreachable_is_a_clear_error(
    local_slurm: LocalSlurm, tmp_path: Path, mode: Any, start: str, detail: str
) -> None:
    conf = tmp_path / "slurm.conf"
    text = local_slurm.conf.read_text()
    conf.write_text(re.sub(r"^SlurmctldPort=\d+$", "SlurmctldPort=1", text, flags=re.M))
    (tmp_path / "gres.conf").write_text((local_slurm.root / "gres.conf").read_text())
    snapshot = SlurmCommands(timeout_s=30, mode=mode, env={"SLURM_CONF": str(conf)}).collect()
    assert not snapshot.ok and not snapshot.has_data and snapshot.collect_errors == (("sinfo", 1), ("squeue", 0))
    assert snapshot.error is not None and snapshot.error.startswith(start) and detail in snapshot.error
