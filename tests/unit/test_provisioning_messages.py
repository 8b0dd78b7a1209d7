"""Terraform -json lines to Progress, pods from outputs and state, and the cluster spec's checks."""

from __future__ import annotations

import json

import pytest

from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.provisioning.messages import MessageParser
from gpuwatch_desktop.provisioning.model import ChangeAction, ClusterSpec, ProgressKind, ProvisioningError
from gpuwatch_desktop.provisioning.outputs import pod_token_from_outputs, pods_from_outputs, pods_from_state

# Shapes as in Terraform's machine-readable UI reference.
ADDR = {"addr": "runpod_pod.worker[0]", "module": "", "resource": "runpod_pod.worker[0]", "implied_provider": "runpod",
        "resource_type": "runpod_pod", "resource_name": "worker", "resource_key": 0}
HEAD = {**ADDR, "addr": "runpod_pod.head", "resource": "runpod_pod.head", "resource_name": "head", "resource_key": None}


def line(kind: str, message: str, level: str = "info", **fields: object) -> str:
    return json.dumps({"@level": level, "@message": message, "@module": "terraform.ui",
                       "@timestamp": "2026-05-25T13:32:41.275359-04:00", "type": kind, **fields})


def test_a_stream_of_messages_becomes_progress_with_counts() -> None:
    parser = MessageParser(secrets=["s3cr3t"])
    stream = [
        line("version", "Terraform 1.11.0", terraform="1.11.0", ui="1.2"),
        line("planned_change", "runpod_pod.head: Plan to create", change={"resource": HEAD, "action": "create"}),
        line("planned_change", "runpod_pod.worker[0]: Plan to replace",
             change={"resource": ADDR, "action": "replace", "reason": "cannot_update"}),
        line("change_summary", "Plan: 2 to add, 0 to change, 1 to destroy.",
             changes={"add": 2, "change": 0, "remove": 1, "operation": "plan"}),
        line("apply_start", "runpod_pod.head: Creating...", hook={"resource": HEAD, "action": "create"}),
        line("apply_progress", "runpod_pod.head: Still creating... [10s elapsed]",
             hook={"resource": HEAD, "action": "create", "elapsed_seconds": 10}),
        line("apply_complete", "runpod_pod.head: Creation complete after 12s [id=abc]",
             hook={"resource": HEAD, "action": "create", "id_key": "id", "id_value": "abc", "elapsed_seconds": 12}),
        line("apply_errored", "runpod_pod.worker[0]: Creation errored after 3s",
             hook={"resource": ADDR, "action": "create", "elapsed_seconds": 3}),
        line("diagnostic", "Error: Error creating pod", "error", diagnostic={
            "severity": "error", "summary": "Error creating pod", "detail": "key s3cr3t refused\n\nmore help",
            "address": "runpod_pod.worker[0]"}),
        "Interrupt received.   \n",
    ]
    progress = [parser.feed(text) for text in stream]
    assert [p.kind for p in progress if p] == [
        ProgressKind.LOG, ProgressKind.PLANNED, ProgressKind.PLANNED, ProgressKind.LOG, ProgressKind.APPLY_START,
        ProgressKind.APPLY_PROGRESS, ProgressKind.APPLY_COMPLETE, ProgressKind.APPLY_ERRORED, ProgressKind.DIAGNOSTIC,
        ProgressKind.LOG,
    ]  # fmt: skip
    assert [c.action for c in parser.changes] == [ChangeAction.CREATE, ChangeAction.REPLACE]
    assert parser.changes[1].name == "worker" and parser.changes[1].resource_type == "runpod_pod"
    assert parser.counts == {"add": 2, "change": 0, "remove": 1}
    complete, errored, diagnostic = progress[6], progress[7], progress[8]
    assert complete and (complete.done, complete.total, complete.address) == (1, 2, "runpod_pod.head")
    assert errored and errored.done == 2
    assert diagnostic and diagnostic.severity == "error" and diagnostic.address == "runpod_pod.worker[0]"
    assert diagnostic.message == "runpod_pod.worker[0]: Error creating pod: key *** refused"
    assert parser.diagnostics[0].detail == "key *** refused\n\nmore help"
    assert parser.feed("   \n") is None


@pytest.mark.parametrize("text", ["[1, 2]", '{"type": "planned_change", "change": {"action": "explode"}}', "{oops"])
def test_odd_lines_become_log_lines_not_crashes(text: str) -> None:
    progress = MessageParser().feed(text)
    assert progress is not None and progress.kind == ProgressKind.LOG


POD = {"id": "p1", "name": "lab-head", "role": "head", "gpu_type": "NVIDIA L40S", "gpu_count": 2,
       "cost_per_hour": 1.72, "urls": {"9400": "https://p1-9400.proxy.runpod.net"}}


def test_pods_and_token_from_terraform_output() -> None:
    found = {"pods": {"sensitive": False, "type": [], "value": [POD]},
             "pod_token": {"sensitive": True, "type": "string", "value": "tok"}}
    (pod,) = pods_from_outputs(found)
    assert pod.urls == {9400: "https://p1-9400.proxy.runpod.net"} and pod.cost_per_hour == 1.72
    assert pod_token_from_outputs(found) == "tok" and pods_from_outputs({}) == ()
    with pytest.raises(ProvisioningError, match="unexpected shape"):
        pods_from_outputs({"pods": {"value": [{"id": "p1"}]}})
    with pytest.raises(ProvisioningError, match="'pod_token' is missing"):
        pod_token_from_outputs({})


def test_pods_from_state_head_first_with_urls_from_their_ports() -> None:
    def resource(name: str, index: int | None, pod_id: str, ports: str) -> dict[str, object]:
        return {"address": f"runpod_pod.{name}", "mode": "managed", "type": "runpod_pod", "name": name,
                **({"index": index} if index is not None else {}),
                "values": {"id": pod_id, "name": f"lab-{name}" + (f"-{index + 1}" if index is not None else ""),
                           "gpu_type_id": "NVIDIA L40S", "gpu_count": 1, "cost_per_hr": 0.86, "ports": ports}}

    shown = {"format_version": "1.0", "values": {"root_module": {"resources": [
        resource("worker", 9, "w10", "9400/http,8002/http"), resource("worker", 1, "w2", "9400/http,8002/http"),
        {"mode": "managed", "type": "random_password", "name": "pod_token", "values": {"result": "x"}},
        resource("head", None, "h", "9400/http,9341/http,8000/http,8002/http"),
    ]}}}
    pods = pods_from_state(shown)
    assert [(p.name, p.role) for p in pods] == [("lab-head", "head"), ("lab-worker-2", "worker"),
                                                ("lab-worker-10", "worker")]
    assert sorted(pods[0].urls) == [8000, 8002, 9341, 9400] and pods[1].urls[8002] == "https://w2-8002.proxy.runpod.net"
    assert pods_from_state({"format_version": "1.0"}) == ()


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": "Lab"}, "cluster name 'Lab'"),
    ({"name": "-lab"}, "starting and ending with a letter or digit"),
    ({"gpu_type": " "}, "choose a GPU type"),
    ({"gpu_count": 9}, "GPUs per pod must be a whole number from 1 to 8"),
    ({"workers": -1}, "workers must be a whole number from 0 to 16"),
    ({"workers": True}, "workers must be a whole number"),
    ({"volume_gb": 0}, "volume size"),
    ({"image": "my image"}, "without spaces"),
    ({"model": "a model"}, "has no spaces"),
    ({"cloud_type": "ALL"}, "choose one of SECURE, COMMUNITY"),
])
def test_cluster_spec_checks_say_what_is_allowed(changes: dict[str, object], message: str) -> None:
    spec = ClusterSpec(**{"name": "lab", "gpu_type": "NVIDIA L40S", **changes})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        spec.validate()
    ClusterSpec(name="lab", gpu_type="NVIDIA L40S", workers=16, gpu_count=8).validate()
