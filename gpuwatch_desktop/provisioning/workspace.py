"""Per-cluster Terraform work dirs under the user data dir: ``clusters/<name>/`` with the module and its tfvars.

Only non-secret variables are written (``cluster.tfvars.json``); secrets reach Terraform through the environment.
Terraform's own state (``terraform.tfstate``) holds the generated pod token and the pods' environment, so the
dirs are private to the user (0700). Blocking file I/O: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from gpuwatch_desktop.config.paths import terraform_module_dir
from gpuwatch_desktop.provisioning.model import ClusterSpec, ProvisioningError

CLUSTERS_DIR = "clusters"
TFVARS_FILE = "cluster.tfvars.json"
PLAN_FILE = "tfplan"
STATE_FILE = "terraform.tfstate"
_MODULE_MARK = ".gpuwatch-module.sha256"  # hash of the module Terraform was last initialised with
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

# Variables the app sets through the environment (TF_VAR_<name>), never in a file.
SECRET_VARIABLES = ("hf_token",)
# Outputs the app reads after an apply.
OUTPUTS_READ = ("pods", "pod_token")


def tfvars_of(spec: ClusterSpec) -> dict[str, Any]:
    """The module's non-secret variables for ``spec``."""
    return {
        "cluster_name": spec.name,
        "gpu_type": spec.gpu_type,
        "gpu_count": spec.gpu_count,
        "workers": spec.workers,
        "image": spec.image,
        "model_name": spec.model,
        "volume_gb": spec.volume_gb,
        "cloud_type": spec.cloud_type,
    }


def spec_of(tfvars: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec(
        name=str(tfvars["cluster_name"]),
        gpu_type=str(tfvars["gpu_type"]),
        gpu_count=int(tfvars["gpu_count"]),
        workers=int(tfvars["workers"]),
        image=str(tfvars["image"]),
        model=str(tfvars["model_name"]),
        volume_gb=int(tfvars["volume_gb"]),
        cloud_type=str(tfvars["cloud_type"]),
    )


def clusters_root(data_dir: Path) -> Path:
    return data_dir / CLUSTERS_DIR


def list_clusters(data_dir: Path) -> list[str]:
    """Names of the cluster work dirs that exist, sorted."""
    root = clusters_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


class Workspace:
    """The work dir of one cluster."""

    def __init__(self, data_dir: Path, name: str) -> None:
        if not _NAME.match(name):
            raise ProvisioningError(f"{name!r} is not a cluster name (lower-case letters, digits and dashes)")
        self.name = name
        self.path = clusters_root(data_dir) / name
        self._module_hash = ""

    def exists(self) -> bool:
        return self.path.is_dir()

    def prepare(self, spec: ClusterSpec) -> bool:
        """Create the dir, bring the module up to date and write the tfvars. Returns whether init is needed."""
        _private_dir(self.path.parent)
        _private_dir(self.path)
        needs_init = self.sync_module()
        _write_private(self.path / TFVARS_FILE, json.dumps(tfvars_of(spec), indent=2) + "\n")
        return needs_init

    def sync_module(self) -> bool:
        """Copy the shipped module's .tf files here (dropping old ones); whether ``terraform init`` must run."""
        source = terraform_module_dir()
        files = sorted(source.glob("*.tf"))
        if not files:
            raise ProvisioningError(f"the Terraform module is missing: no .tf files in {source}")
        for old in self.path.glob("*.tf"):
            if not (source / old.name).exists():
                old.unlink()
        digest = hashlib.sha256()
        for file in files:
            data = file.read_bytes()
            digest.update(file.name.encode() + b"\0" + data)
            target = self.path / file.name
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
        mark = self.path / _MODULE_MARK
        self._module_hash = digest.hexdigest()
        initialised = (self.path / ".terraform").is_dir() and mark.exists()
        return not initialised or mark.read_text(encoding="utf-8").strip() != self._module_hash

    def mark_initialised(self) -> None:
        (self.path / _MODULE_MARK).write_text(self._module_hash + "\n", encoding="utf-8")

    def read_spec(self) -> ClusterSpec | None:
        """The spec last planned here (None when there is none or it cannot be read)."""
        try:
            return spec_of(json.loads((self.path / TFVARS_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def has_plan(self) -> bool:
        return (self.path / PLAN_FILE).is_file()

    def remove_plan(self) -> None:
        """The saved plan holds the variables (also the HF token): it goes as soon as it has been used."""
        (self.path / PLAN_FILE).unlink(missing_ok=True)

    def resource_count(self) -> int | None:
        """How many resources Terraform's state holds (None when the state cannot be read)."""
        path = self.path / STATE_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        except OSError:
            return None
        try:
            state = json.loads(text) if text.strip() else {}
            return sum(len(r.get("instances", [])) for r in state.get("resources", []))
        except (ValueError, AttributeError, TypeError):
            return None

    def remove_if_empty(self) -> bool:
        """Delete the work dir when its state holds nothing (after a complete destroy); whether it was deleted."""
        if self.resource_count() != 0:
            return False
        shutil.rmtree(self.path)
        return True


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)
