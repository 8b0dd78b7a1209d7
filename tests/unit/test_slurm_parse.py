"""Slurm exporter replies read into typed data; wrong shapes refused with the field named; times in words."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gpuwatch_desktop.core.slurm import (
    OTHER,
    PENDING,
    RUNNING,
    SlurmJob,
    SlurmNodeInfo,
    duration_text,
    job_time_text,
    jobs_in_group,
    limit_text,
    local_time_text,
    node_state_level,
    summarize,
)
from gpuwatch_desktop.sources.slurm import SlurmSourceError, base_url_of, parse_jobs, parse_nodes

NODE = {"name": "node-1", "state": "mixed", "reason": "", "partitions": ["gpu", "debug"], "cpus_total": 64,
        "cpus_alloc": 16, "gpus_total": 8, "gpus_alloc": 3, "memory_mb": 515000}
PARTITION = {"name": "gpu", "default": True, "state": "up", "nodes": ["node-1", "node-2"], "cpus_total": 128,
             "cpus_alloc": 16, "gpus_total": 16, "gpus_alloc": 3, "time_limit_s": None, "jobs_pending": 2,
             "jobs_running": 1}
JOB = {"id": "1234_7", "name": "train", "user": "ada", "partition": "gpu", "state": "RUNNING", "reason": "",
       "nodes": "node-[1-2]", "num_nodes": 2, "cpus": 16, "gpus": 3, "submit_time": 1000.0, "start_time": 1300.0,
       "time_limit_s": 3600}


def test_a_nodes_reply_is_read_with_every_field() -> None:
    report = parse_nodes({"collected_at": 5.5, "error": None, "nodes": [NODE], "partitions": [PARTITION]})
    assert report.collected_at == 5.5 and report.error is None
    assert report.nodes == (SlurmNodeInfo("node-1", "mixed", "", ("gpu", "debug"), 64, 16, 8, 3, 515000),)
    part = report.partitions[0]
    assert (part.name, part.default, part.nodes, part.time_limit_s, part.jobs_pending) == (
        "gpu", True, ("node-1", "node-2"), None, 2)


def test_a_jobs_reply_is_read_and_an_exporter_error_kept() -> None:
    report = parse_jobs({"collected_at": 9.0, "error": "squeue timed out after 10 s", "jobs": [JOB]})
    assert report.error == "squeue timed out after 10 s"
    job = report.jobs[0]
    assert job == SlurmJob("1234_7", "train", "ada", "gpu", "RUNNING", "", "node-[1-2]", 2, 16, 3,
                           1000.0, 1300.0, 3600)


@pytest.mark.parametrize(("reply", "words"), [
    ([], "the reply must be a JSON object, not list"),
    ({"jobs": {}}, "'jobs' must be a list, not dict"),
    ({"jobs": [JOB, "x"]}, "jobs entry 2: the entry must be a JSON object"),
    ({"jobs": [{**JOB, "cpus": "16"}]}, "jobs entry 1: 'cpus' must be a whole number of at least 0, not '16'"),
    ({"jobs": [{**JOB, "gpus": -1}]}, "'gpus' must be a whole number of at least 0, not -1"),
    ({"jobs": [{**JOB, "id": None}]}, "'id' must be a job id text, not None"),
    ({"jobs": [{**JOB, "state": 3}]}, "'state' must be text, not 3"),
    ({"jobs": [{**JOB, "submit_time": "yesterday"}]}, "'submit_time' must be a time in epoch seconds or null"),
    ({"jobs": [{**JOB, "start_time": float("nan")}]}, "'start_time' must be a time in epoch seconds or null"),
    ({"error": 5, "jobs": []}, "'error' must be text or null, not 5"),
])
def test_a_malformed_jobs_reply_names_what_is_wrong(reply: Any, words: str) -> None:
    with pytest.raises(SlurmSourceError) as caught:
        parse_jobs(reply)
    assert str(caught.value).startswith("the Slurm exporter's /jobs reply is malformed: ")
    assert words in str(caught.value)


@pytest.mark.parametrize(("reply", "words"), [
    ({"nodes": [{**NODE, "partitions": "gpu"}]}, "nodes entry 1: 'partitions' must be a list of names"),
    ({"nodes": [{**NODE, "name": ""}]}, "'name' must be text, not ''"),
    ({"partitions": [{**PARTITION, "default": "yes"}]}, "'default' must be true or false, not 'yes'"),
    ({"partitions": [{**PARTITION, "jobs_running": True}]}, "'jobs_running' must be a whole number"),
])
def test_a_malformed_nodes_reply_names_what_is_wrong(reply: Any, words: str) -> None:
    with pytest.raises(SlurmSourceError, match="/nodes reply is malformed") as caught:
        parse_nodes(reply)
    assert words in str(caught.value)


def test_lenient_where_the_meaning_is_clear() -> None:
    """Missing optional fields default, whole floats and numeric ids are taken, unknown keys ignored."""
    report = parse_jobs({"jobs": [{"id": 77, "state": "pending", "cpus": 4.0, "future_field": [1]}]})
    assert report.collected_at is None and report.error is None
    assert report.jobs == (SlurmJob("77", "", "", "", "PENDING", cpus=4),)
    assert parse_nodes({}).nodes == ()


def test_base_url_accepts_a_pasted_metrics_url() -> None:
    assert base_url_of(" http://h:9341/metrics ") == "http://h:9341"
    assert base_url_of("https://abc-9341.proxy.runpod.net/") == "https://abc-9341.proxy.runpod.net"


def test_job_groups_and_times() -> None:
    pending = SlurmJob("1", "a", "u", "gpu", "PENDING", "Resources", submit_time=1000.0)
    running = SlurmJob("2", "b", "u", "gpu", "RUNNING", submit_time=1000.0, start_time=1060.0, time_limit_s=600)
    done = SlurmJob("3", "c", "u", "gpu", "FAILED", submit_time=900.0, start_time=950.0)
    now = 1360.0
    assert (pending.group, running.group, done.group) == (PENDING, RUNNING, OTHER)
    assert SlurmJob("4", "", "", "", "COMPLETING").group == RUNNING
    assert SlurmJob("5", "", "", "", "SUSPENDED").group == OTHER
    assert pending.waited_s(now) == 360 and pending.run_s(now) is None and pending.left_s(now) is None
    assert running.waited_s(now) == 60 and running.run_s(now) == 300 and running.left_s(now) == 300
    assert job_time_text(pending, now) == "pending for 6 m"
    assert job_time_text(running, now) == "running for 5 m"
    assert job_time_text(done, now) == "failed"
    assert [j.id for j in jobs_in_group([pending, running, done], "pending")] == ["1"]
    assert len(jobs_in_group([pending, running, done], "all")) == 3


def test_totals_count_nodes_by_state_and_jobs_by_group() -> None:
    nodes = [SlurmNodeInfo("a", "mixed", cpus_total=64, cpus_alloc=8, gpus_total=8, gpus_alloc=2),
             SlurmNodeInfo("b", "mixed", cpus_total=64, gpus_total=8, gpus_alloc=8),
             SlurmNodeInfo("c", "drained", "GPU XID 79", cpus_total=64, gpus_total=8)]
    jobs = [SlurmJob("1", "", "", "", "PENDING"), SlurmJob("2", "", "", "", "RUNNING"),
            SlurmJob("3", "", "", "", "RUNNING")]
    totals = summarize(nodes, jobs)
    assert totals.nodes_by_state == (("mixed", 2), ("drained", 1))
    assert (totals.nodes_total, totals.cpus_alloc, totals.cpus_total, totals.gpus_alloc, totals.gpus_total) == (
        3, 8, 192, 10, 24)
    assert (totals.jobs_running, totals.jobs_pending, totals.jobs_other) == (2, 1, 0)


@pytest.mark.parametrize(("state", "level"), [
    ("idle", "ok"), ("mixed", "busy"), ("allocated", "busy"), ("drained", "warn"), ("draining", "warn"),
    ("down", "crit"), ("down*", "crit"), ("fail", "crit"), ("other:weird", "other"), ("IDLE", "ok"),
])
def test_node_state_levels(state: str, level: str) -> None:
    assert node_state_level(state) == level


def test_durations_and_limits_in_words() -> None:
    assert [duration_text(s) for s in (None, 0, 59, 61, 3725, 2 * 86400 + 4 * 3600)] == [
        "", "0 s", "59 s", "1 m", "1 h 2 m", "2 d 4 h"]
    assert [limit_text(s) for s in (None, 1800, 3600, 86400, 90061)] == [
        "UNLIMITED", "30:00", "01:00:00", "1-00:00:00", "1-01:01:01"]


def test_local_time_shows_the_date_only_for_another_day() -> None:
    now = time.mktime((2025, 3, 4, 15, 0, 0, 0, 0, -1))
    assert local_time_text(now - 3600, now) == "14:00:00"
    assert local_time_text(now - 2 * 86400, now) == "2025-03-02 15:00"
    assert local_time_text(None, now) == ""
