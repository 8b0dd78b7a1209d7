"""sinfo/squeue parsers on output recorded from a real Slurm 22.05, newer JSON shapes and bad input.

tests/data/slurm/ was written by ``python -m tests.integration.slurm_cluster record tests/data/slurm``
(a real one-node Slurm 22.05.8 from Debian 12 with the standard jobs of that module; times in UTC).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuwatch_pod.slurm_gres import gres_gpus, job_gpus, tres_gpus
from gpuwatch_pod.slurm_model import SlurmJob, SlurmNode, SlurmPartition
from gpuwatch_pod.slurm_parse import (
    SlurmParseError,
    duration_s,
    node_state,
    parse_partitions_text,
    parse_sinfo_json,
    parse_sinfo_text,
    parse_squeue_json,
    parse_squeue_text,
    text_node_state,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


def _read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The recorded text times are the recording machine's local time, which was UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


GW1 = SlurmNode("gw1", "mixed", "", ("gpu", "debug"), cpus_total=8, cpus_alloc=6, cpus_idle=2, cpus_other=0,
                gpus_total=2, gpus_alloc=2, memory_mb=1000)
GW2 = SlurmNode("gw2", "drained", "GPU XID 79", ("gpu",), cpus_total=4, cpus_alloc=0, cpus_idle=0, cpus_other=4,
                gpus_total=1, gpus_alloc=0, memory_mb=500)


def test_recorded_sinfo_json() -> None:
    nodes = parse_sinfo_json(_read("sinfo.json"))
    assert nodes == (GW1, GW2)
    assert [n.category for n in nodes] == ["mix", "drain"]
    assert GW2.gpus_other == 1 and GW1.gpus_other == 0


def test_recorded_sinfo_text_matches_json() -> None:
    nodes, partitions = parse_sinfo_text(_read("sinfo_nodes.txt"))
    by_name = {n.name: n for n in nodes}
    assert by_name["gw2"] == GW2
    gw1 = by_name["gw1"]
    assert sorted(gw1.partitions) == ["debug", "gpu"]  # in the order of sinfo's rows
    assert gw1 == SlurmNode(**{**_fields(GW1), "partitions": gw1.partitions})
    expected = (SlurmPartition("gpu", True, "up", 3600), SlurmPartition("debug", False, "up", None))
    assert partitions == expected
    assert parse_partitions_text(_read("sinfo_partitions.txt")) == expected


def _fields(node: SlurmNode) -> dict[str, object]:
    return {name: getattr(node, name) for name in SlurmNode.__slots__}


def test_recorded_squeue_json(utc: None) -> None:
    jobs = {job.id: job for job in parse_squeue_json(_read("squeue.json"))}
    assert sorted(jobs) == ["1", "2", "3", "4", "5", "6_[1-3]"]
    train_a = jobs["1"]
    assert (train_a.name, train_a.user, train_a.partition, train_a.state, train_a.reason) == (
        "train-a", "root", "gpu", "RUNNING", "")
    assert (train_a.nodes, train_a.num_nodes, train_a.cpus, train_a.gpus, train_a.time_limit_s) == ("gw1", 1, 2, 1, 600)
    assert train_a.start_time is not None and train_a.submit_time is not None
    assert train_a.start_time >= train_a.submit_time
    assert jobs["2"].partition == "debug" and jobs["2"].time_limit_s is None  # MaxTime=INFINITE
    assert (jobs["3"].user, jobs["3"].gpus) == ("nobody", 0)
    big = jobs["4"]
    assert (big.state, big.reason, big.gpus, big.nodes, big.start_time) == ("PENDING", "Resources", 2, "", None)
    assert jobs["5"].reason == "JobHeldUser"
    assert (jobs["6_[1-3]"].state, jobs["6_[1-3]"].reason, jobs["6_[1-3]"].cpus) == ("PENDING", "Priority", 4)


def test_recorded_squeue_text_matches_json(utc: None) -> None:
    from_json = sorted(parse_squeue_json(_read("squeue.json")), key=lambda j: j.id)
    from_text = sorted(parse_squeue_text(_read("squeue.txt")), key=lambda j: j.id)
    assert from_text == from_json


# Slurm 23.02: still a "nodes" list, but states are lists.
SINFO_23_02 = {"meta": {}, "errors": [], "nodes": [
    {"name": "a100-1", "state": ["MIXED", "DRAIN"], "cpus": 128, "alloc_cpus": 64, "partitions": ["gpu"],
     "gres": "gpu:a100:8(S:0-1)", "gres_used": "gpu:a100:4(IDX:0-3)", "real_memory": 1031000,
     "reason": "maintenance at 18:00"},
    {"name": "a100-2", "state": ["DOWN", "NOT_RESPONDING"], "cpus": 128, "alloc_cpus": 0, "partitions": ["gpu"],
     "gres": "gpu:a100:8(S:0-1)", "gres_used": "gpu:a100:0(IDX:N/A)", "real_memory": 1031000, "reason": ""},
]}
# Slurm 23.11 / 24.x: "sinfo" records, one per node and partition, numbers as objects.
SINFO_24_11 = {"meta": {}, "errors": [], "warnings": [], "sinfo": [
    {"partition": {"name": "gpu"}, "node": {"state": ["IDLE"]}, "nodes": {"nodes": ["l40s-1"], "total": 1},
     "cpus": {"allocated": 0, "idle": 64, "other": 0, "total": 64}, "memory": {"minimum": 515000, "maximum": 515000},
     "gres": {"total": "tmpsize:7T,gpu:l40s:4(S:0-1)", "used": "gpu:l40s:0(IDX:N/A),tmpsize:0"}, "reason": ""},
    {"partition": {"name": "debug"}, "node": {"state": ["IDLE"]}, "nodes": {"nodes": ["l40s-1"], "total": 1},
     "cpus": {"allocated": 0, "idle": 64, "other": 0, "total": 64}, "memory": {"minimum": 515000, "maximum": 515000},
     "gres": {"total": "gpu:l40s:4(S:0-1)", "used": "gpu:l40s:0(IDX:N/A)"}, "reason": ""},
    {"partition": {"name": "gpu"}, "node": {"state": ["ALLOCATED"]}, "nodes": {"nodes": ["l40s-2"], "total": 1},
     "cpus": {"allocated": 64, "idle": 0, "other": 0, "total": 64}, "memory": {"minimum": 515000, "maximum": 515000},
     "gres": {"total": "gpu:l40s:4(S:0-1)", "used": "gpu:l40s:4(IDX:0-3)"},
     "reason": {"description": "", "time": {"set": True, "infinite": False, "number": 0}}},
]}


def test_sinfo_json_23_02_state_lists() -> None:
    drained, down = parse_sinfo_json(json.dumps(SINFO_23_02))
    assert (drained.state, drained.category, drained.reason) == ("draining", "drain", "maintenance at 18:00")
    assert (drained.gpus_total, drained.gpus_alloc, drained.gpus_other) == (8, 4, 4)
    assert (drained.cpus_idle, drained.cpus_other) == (0, 64)
    assert (down.state, down.category, down.cpus_other, down.gpus_other) == ("down", "down", 128, 8)


def test_sinfo_json_24_11_records_merge_per_node() -> None:
    idle, busy = parse_sinfo_json(json.dumps(SINFO_24_11))
    assert (idle.name, idle.partitions, idle.state, idle.cpus_idle, idle.gpus_total, idle.memory_mb) == (
        "l40s-1", ("gpu", "debug"), "idle", 64, 4, 515000)
    assert (busy.name, busy.state, busy.category, busy.gpus_alloc, busy.reason) == (
        "l40s-2", "allocated", "alloc", 4, "")


SQUEUE_24_11 = {"meta": {}, "errors": [], "warnings": [], "jobs": [
    {"job_id": 525, "array_job_id": {"set": True, "infinite": False, "number": 520},
     "array_task_id": {"set": True, "infinite": False, "number": 5}, "array_task_string": "",
     "name": "sweep", "user_name": "alice", "partition": "gpu", "job_state": ["RUNNING"], "state_reason": "None",
     "nodes": "l40s-2", "node_count": {"set": True, "infinite": False, "number": 1},
     "cpus": {"set": True, "infinite": False, "number": 16}, "tasks": {"set": True, "infinite": False, "number": 1},
     "tres_alloc_str": "cpu=16,mem=64G,node=1,billing=16,gres/gpu=2,gres/gpu:l40s=2",
     "tres_per_node": "gres/gpu:l40s:2",
     "submit_time": {"set": True, "infinite": False, "number": 1755290300},
     "start_time": {"set": True, "infinite": False, "number": 1755290346},
     "time_limit": {"set": True, "infinite": False, "number": 60}},
    {"job_id": 530, "array_job_id": {"set": True, "infinite": False, "number": 0},
     "array_task_id": {"set": False, "infinite": False, "number": 0}, "name": "pretrain", "user_name": "bob",
     "partition": "gpu,debug", "job_state": ["PENDING"], "state_reason": "Resources", "nodes": "",
     "node_count": {"set": True, "infinite": False, "number": 2}, "cpus": {"set": True, "infinite": False,
                                                                            "number": 128},
     "tres_per_job": "gres/gpu:8", "submit_time": {"set": True, "infinite": False, "number": 1755290400},
     "start_time": {"set": True, "infinite": False, "number": 1755299999},
     "time_limit": {"set": False, "infinite": True, "number": 0}},
    {"job_id": 531, "name": "eval", "user_name": "carol", "partition": "gpu", "job_state": ["COMPLETED", "COMPLETING"],
     "state_reason": "None", "nodes": "l40s-[1-2]", "node_count": {"set": True, "infinite": False, "number": 2},
     "tres_per_node": "gres/gpu=1", "time_limit": {"set": True, "infinite": False, "number": 30}},
]}


def test_squeue_json_24_11_shapes() -> None:
    task, pending, completing = parse_squeue_json(json.dumps(SQUEUE_24_11))
    assert task == SlurmJob("520_5", "sweep", "alice", "gpu", "RUNNING", "", "l40s-2", 1, 16, 2,
                            1755290300.0, 1755290346.0, 3600)
    assert (pending.id, pending.state, pending.reason, pending.gpus, pending.time_limit_s) == (
        "530", "PENDING", "Resources", 8, None)
    assert pending.start_time is None  # an estimate, not a start
    assert (completing.state, completing.gpus, completing.submit_time, completing.cpus) == ("COMPLETING", 2, None, 0)


@pytest.mark.parametrize(("raw", "state", "category"), [
    ("idle", "idle", "idle"), ("mixed-", "mixed", "mix"), ("down*", "down", "down"),
    ("idle+drain", "drained", "drain"), ("mixed+drain", "draining", "drain"), ("drng", "draining", "drain"),
    ("drained*", "drained", "drain"), ("alloc", "allocated", "alloc"), ("allocated+", "allocated", "alloc"),
    ("idle~", "idle", "idle"), ("completing", "completing", "comp"), ("maint", "maint", "maint"),
    ("reserved", "reserved", "resv"), ("failing", "failing", "fail"), ("error", "error", "err"),
    ("planned", "other:planned", "other"), ("inval", "other:inval", "other"), ("weird!", "other:weird!", "other"),
    ("", "other:unknown", "other"), ("IDLE+DRAIN", "drained", "drain"),
])
def test_text_node_states(raw: str, state: str, category: str) -> None:
    got = text_node_state(raw)
    assert got == state
    assert SlurmNode("n", got).category == category


@pytest.mark.parametrize(("tokens", "state"), [
    (["IDLE", "DRAIN"], "drained"), (["MIXED", "DRAIN"], "draining"), (["unknown", "DRAIN"], "drained"),
    (["DOWN", "NOT_RESPONDING"], "down"), (["IDLE", "MAINTENANCE"], "maint"), (["ALLOCATED", "COMPLETING"],
                                                                                 "completing"),
    (["IDLE", "RESERVED"], "reserved"), (["ALLOCATED", "FAIL"], "failing"), (["FUTURE"], "other:future"),
    ([], "other:unknown"), (["IDLE", "POWERED_DOWN", "CLOUD"], "idle"),
])
def test_json_node_state_tokens(tokens: list[str], state: str) -> None:
    assert node_state(tokens, "+".join(tokens).lower()) == state


@pytest.mark.parametrize(("gres", "gpus"), [
    ("gpu:2", 2), ("gpu:a100:4(IDX:0-3)", 4), ("gpu:a100:4(S:0-1)", 4), ("gpu:4(IDX:0,2-3)", 4),
    ("gpu:a100:1(IDX:0),gpu:v100:2(IDX:1,3)", 3), ("gres:gpu:1", 1), ("gres/gpu:2", 2), ("gres/gpu=2", 2),
    ("gres/gpu:l40s:1", 1), ("gpu", 1), ("gpu:a100", 1), ("gpu:0(IDX:N/A)", 0), ("(null)", 0), ("N/A", 0),
    ("", 0), ("tmpsize:7T,gpu:l40s:4(S:0-1)", 4), ("mps:100,shard:8", 0),
])
def test_gres_gpus(gres: str, gpus: int) -> None:
    assert gres_gpus(gres) == gpus


def test_tres_and_job_gpus() -> None:
    assert tres_gpus("cpu=2,mem=4G,node=1,billing=2,gres/gpu=1,gres/gpu:l40s=1") == 1
    assert tres_gpus("cpu=2,node=1") is None
    assert job_gpus("cpu=2", "", "gres:gpu:2", "", 3, 1) == 6  # per node x nodes
    assert job_gpus("cpu=2", "", "", "gres/gpu:1", 1, 4) == 4  # per task x tasks
    assert job_gpus("cpu=2,gres/gpu=5", "gres/gpu:8", "", "", 1, 1) == 5  # allocated wins


@pytest.mark.parametrize(("text", "seconds"), [
    ("1:00:00", 3600), ("10:00", 600), ("0:30", 30), ("5-00:00:00", 432000), ("2-12:00:00", 216000),
    ("UNLIMITED", None), ("infinite", None), ("N/A", None), ("30", 1800), ("1-0", 86400 + 0),
])
def test_duration(text: str, seconds: int | None) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize(("payload", "message"), [
    ("not json at all", "did not print JSON"),
    ("[1, 2]", "not an object"),
    ('{"errors": [{"error": "Unable to contact slurm controller", "error_number": 1}], "nodes": []}',
     "Unable to contact slurm controller"),
    ('{"errors": [], "something": []}', "neither a 'nodes' nor a 'sinfo' list"),
    ('{"nodes": [{"state": "idle"}]}', "missing or has a bad field"),
    ('{"errors": 5, "nodes": []}', "'errors' field that is not a list"),
    ('{"sinfo": [{"nodes": {"nodes": 3}}]}', "missing or has a bad field"),
])
def test_sinfo_json_bad_input(payload: str, message: str) -> None:
    with pytest.raises(SlurmParseError, match=message):
        parse_sinfo_json(payload)


def test_missing_fields_get_defaults() -> None:
    (node,) = parse_sinfo_json('{"nodes": [{"name": "bare"}]}')
    assert (node.state, node.category, node.cpus_total, node.gpus_total, node.partitions) == (
        "other:unknown", "other", 0, 0, ())
    (odd,) = parse_squeue_json('{"jobs": [{"job_id": 8, "cpus": NaN, "time_limit": Infinity, "submit_time": -1e999}]}')
    assert (odd.id, odd.cpus, odd.time_limit_s, odd.submit_time) == ("8", 0, None, None)
    (job,) = parse_squeue_json('{"jobs": [{"job_id": 7}]}')
    assert job == SlurmJob("7", "", "", "", "UNKNOWN")
    with pytest.raises(SlurmParseError, match="no 'jobs' list"):
        parse_squeue_json('{"errors": []}')


def test_text_bad_input() -> None:
    with pytest.raises(SlurmParseError, match="line 1 has 3 fields, expected 10"):
        parse_sinfo_text("a|b|c\n")
    with pytest.raises(SlurmParseError, match="not A/I/O/T"):
        parse_sinfo_text("n1|gpu*|up|1:00:00|idle|lots|gpu:1|gpu:0|1000|none\n")
    with pytest.raises(SlurmParseError, match="not a Slurm time limit"):
        parse_partitions_text("gpu*|up|forever\n")
    with pytest.raises(SlurmParseError, match="not a Slurm time"):
        parse_squeue_text("1|u|p|RUNNING|None|n|1|1|1|cpu=1|N/A|N/A|N/A|yesterday|N/A|1:00|job\n")
    assert parse_squeue_text("\n\n") == ()


def test_text_reason_and_name_may_contain_the_separator() -> None:
    (node,), _ = parse_sinfo_text("n1|gpu*|up|1:00:00|drained|0/0/8/8|gpu:1|gpu:0|1000|XID 79 | ECC\n")
    assert node.reason == "XID 79 | ECC"
    (job,) = parse_squeue_text("1|u|p|RUNNING|None|n|1|1|1|cpu=1|N/A|N/A|N/A|N/A|N/A|UNLIMITED|a|b\n")
    assert job.name == "a|b"


@given(st.text())
def test_text_parsers_raise_only_parse_errors(text: str) -> None:
    for parse in (parse_sinfo_text, parse_squeue_text, parse_partitions_text, parse_sinfo_json, parse_squeue_json):
        with contextlib.suppress(SlurmParseError):
            parse(text)


@given(st.text())
def test_states_and_gres_never_raise(text: str) -> None:
    assert text_node_state(text)
    assert gres_gpus(text) >= 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["nodes", "sinfo", "jobs", "errors", "name", "state", "state_flags", "cpus", "alloc_cpus", "partitions",
         "gres", "gres_used", "reason", "node", "partition", "job_state", "job_id", "array_job_id",
         "array_task_id", "array_task_string", "time_limit", "submit_time", "start_time", "number", "set",
         "infinite", "description", "total", "used", "allocated", "memory", "maximum"]), inner, max_size=5),
    max_leaves=20,
)


@given(_JSON | st.dictionaries(st.sampled_from(["nodes", "sinfo", "jobs", "errors"]),
                               _JSON | st.lists(st.dictionaries(st.text(max_size=3), _JSON) | _JSON, max_size=3)))
def test_json_parsers_raise_only_parse_errors_on_any_json(data: object) -> None:
    text = json.dumps(data)
    for parse in (parse_sinfo_json, parse_squeue_json):
        with contextlib.suppress(SlurmParseError):
            parse(text)
