"""The terraform/ module parsed with python-hcl2: what the app sets and reads exists, secrets are marked, fmt holds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from gpuwatch_desktop.config.paths import terraform_module_dir
from gpuwatch_desktop.provisioning import outputs
from gpuwatch_desktop.provisioning.model import ClusterSpec
from gpuwatch_desktop.provisioning.workspace import OUTPUTS_READ, SECRET_VARIABLES, tfvars_of
from tests.fake_terraform import FAKE_DIR

MODULE = terraform_module_dir()
POD_ENV = {  # pod_image/start.sh's contract: variable -> roles that get it
    "GPUWATCH_ROLE": ("head", "worker"), "GPUWATCH_CLUSTER": ("head", "worker"),
    "GPUWATCH_WORKERS": ("head", "worker"), "GPUWATCH_GPUS_PER_NODE": ("head", "worker"),
    "GPUWATCH_POD_TOKEN": ("head", "worker"), "GPUWATCH_MUNGE_KEY": ("head", "worker"),
    "GPUWATCH_WORKER_INDEX": ("worker",), "GPUWATCH_HEAD_HOST": ("worker",),
    "MODEL_NAME": ("head",), "TOOL_CALL_PARSER": ("head",), "MAX_MODEL_LEN": ("head",), "HF_TOKEN": ("head",),
}  # fmt: skip


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _blocks(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as file:
            for block in hcl2.load(file).get(kind, []):
                found.update({_unquote(name): body for name, body in block.items()})
    return found


def _resources() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as file:
            for block in hcl2.load(file).get("resource", []):
                for rtype, named in block.items():
                    found.update({f"{_unquote(rtype)}.{_unquote(n)}": body for n, body in named.items()})
    return found


def test_every_variable_the_app_sets_is_declared_and_every_required_one_is_set() -> None:
    variables = _blocks("variable")
    written = set(tfvars_of(ClusterSpec(name="lab", gpu_type="NVIDIA L40S")))
    assert written | set(SECRET_VARIABLES) <= set(variables)
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= written


def test_secrets_are_sensitive_and_have_no_secret_default() -> None:
    variables, declared_outputs = _blocks("variable"), _blocks("output")
    for name in SECRET_VARIABLES:
        assert variables[name]["sensitive"] is True and _unquote(variables[name]["default"]) == ""
    assert declared_outputs["pod_token"]["sensitive"] is True
    assert not any(body.get("sensitive") for name, body in declared_outputs.items() if name != "pod_token")


def test_every_output_the_app_reads_is_declared() -> None:
    declared = _blocks("output")
    assert set(OUTPUTS_READ) <= set(declared)
    pods = declared["pods"]["value"]
    for key in ("id", "name", "role", "gpu_type", "gpu_count", "cost_per_hour", "urls"):  # read by pods_from_outputs
        assert re.search(rf"\b{key} = ", pods), key
    assert "https://${p.pod.id}-${port}.proxy.runpod.net" in pods


def test_official_provider_and_a_head_with_n_workers_on_the_private_network() -> None:
    with (MODULE / "versions.tf").open() as file:
        settings = hcl2.load(file)["terraform"][0]["required_providers"][0]
    assert _unquote(settings["runpod"]["source"]) == "runpod/runpod"
    resources = _resources()
    assert {"runpod_pod.head", "runpod_pod.worker", "random_password.pod_token", "random_password.munge_key"} <= set(
        resources
    )
    assert resources["runpod_pod.worker"]["count"] == "${var.workers}"
    assert resources["random_password.munge_key"]["length"] >= 32
    head_env, worker_env = resources["runpod_pod.head"]["env"], resources["runpod_pod.worker"]["env"]
    assert "GPUWATCH_HEAD_HOST=${runpod_pod.head.id}.runpod.internal" in worker_env
    for name, roles in POD_ENV.items():
        common = f"{name}=" in str(_blocks("locals")["common_env"])
        assert (f"{name}=" in head_env or common) == ("head" in roles), name
        assert (f"{name}=" in worker_env or common) == ("worker" in roles), name


def test_ports_match_what_the_app_reads() -> None:
    locals_ = _blocks("locals")
    assert locals_["head_ports"] == [outputs.PORT_GPU_METRICS, outputs.PORT_SLURM, outputs.PORT_VLLM, outputs.PORT_LOGS]
    assert locals_["worker_ports"] == [outputs.PORT_GPU_METRICS, outputs.PORT_LOGS]


def _real_terraform() -> str | None:
    found = shutil.which("terraform")
    return found if found and Path(found).resolve().parent != FAKE_DIR else None


@pytest.mark.skipif(_real_terraform() is None, reason="needs a real terraform on PATH")
def test_the_module_is_formatted_as_terraform_fmt_would(tmp_path: Path) -> None:
    binary = _real_terraform()
    assert binary is not None
    done = subprocess.run([binary, "fmt", "-check", "-recursive", "-diff", str(MODULE)], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
