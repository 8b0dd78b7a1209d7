"""The pods of a cluster read from Terraform: ``terraform output -json`` and ``terraform show -json``.

After a complete apply the module's ``pods`` output lists every pod. After a half-failed or cancelled apply the
outputs are stale (Terraform does not evaluate outputs whose resources failed), so what exists is read from the
state itself (``show -json``) and the URLs are built the same way the module builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuwatch_desktop.provisioning.model import PodInfo, ProvisioningError

POD_RESOURCE = "runpod_pod"
PORT_GPU_METRICS, PORT_SLURM, PORT_VLLM, PORT_LOGS = 9400, 9341, 8000, 8002


def proxy_url(pod_id: str, port: int) -> str:
    return f"https://{pod_id}-{port}.proxy.runpod.net"


def pods_from_outputs(outputs: Any) -> tuple[PodInfo, ...]:
    """The ``pods`` output of ``terraform output -json`` (() when there is none yet)."""
    if not isinstance(outputs, Mapping) or "pods" not in outputs:
        return ()
    try:
        return tuple(_pod_from_output(item) for item in outputs["pods"]["value"])
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"terraform output 'pods' has an unexpected shape ({exc}); is the module current?"
        raise ProvisioningError(problem) from None


def pod_token_from_outputs(outputs: Any) -> str:
    try:
        token = outputs["pod_token"]["value"]
    except (KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise ProvisioningError("terraform output 'pod_token' is missing; apply the cluster again")
    return token


def pods_from_state(shown: Any) -> tuple[PodInfo, ...]:
    """Every runpod_pod in ``terraform show -json``'s state, head first (() for an empty state)."""
    try:
        resources = shown.get("values", {}).get("root_module", {}).get("resources", [])
        pods = [_pod_from_state(r) for r in resources if r.get("type") == POD_RESOURCE and r.get("mode") == "managed"]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProvisioningError(f"terraform show -json has an unexpected shape ({exc})") from None
    return tuple(sorted(pods, key=lambda p: (p.role != "head", _worker_number(p.name))))


def _pod_from_output(item: Mapping[str, Any]) -> PodInfo:
    return PodInfo(
        id=str(item["id"]),
        name=str(item["name"]),
        role=str(item["role"]),
        gpu_type=str(item["gpu_type"]),
        gpu_count=int(item["gpu_count"]),
        cost_per_hour=float(item.get("cost_per_hour") or 0.0),
        urls={int(port): str(url) for port, url in item["urls"].items()},
    )


def _pod_from_state(resource: Mapping[str, Any]) -> PodInfo:
    values = resource["values"]
    pod_id = str(values["id"])
    ports = [int(p.split("/")[0]) for p in str(values.get("ports") or "").split(",") if p.strip()]
    return PodInfo(
        id=pod_id,
        name=str(values.get("name") or resource.get("address", pod_id)),
        role="head" if resource.get("name") == "head" else "worker",
        gpu_type=str(values.get("gpu_type_id") or ""),
        gpu_count=int(values.get("gpu_count") or 0),
        cost_per_hour=float(values.get("cost_per_hr") or 0.0),
        urls={port: proxy_url(pod_id, port) for port in ports},
    )


def _worker_number(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
