"""Data of a provisioning run: the cluster asked for, the plan, progress messages, the pods that exist."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError

DEFAULT_IMAGE = "ghcr.io/gpuwatch/gpuwatch-pod:0.1.0"
HF_TOKEN_SECRET = "hf-token"  # keyring name of the Hugging Face token handed to the head pod (TF_VAR_hf_token)
CLOUD_TYPES = ("SECURE", "COMMUNITY")
MAX_GPUS_PER_POD = 8
MAX_WORKERS = 16
_CLUSTER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class ProvisioningError(GpuwatchError):
    """A Terraform run could not start or failed; the message says what failed and what to do."""


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """The cluster the user asks for: one head pod and ``workers`` worker pods."""

    name: str  # [a-z0-9-], also the per-cluster work dir name
    gpu_type: str  # RunPod gpu type id, e.g. "NVIDIA A100 80GB PCIe" (keys of resources/gpu_prices.yaml)
    gpu_count: int = 1  # GPUs per pod, 1..8
    workers: int = 0  # worker pods besides the head, 0..16
    image: str = DEFAULT_IMAGE
    model: str = ""  # MODEL_NAME for vLLM on the head ("" = none)
    volume_gb: int = 50  # persistent volume per pod
    cloud_type: str = "SECURE"  # "SECURE" | "COMMUNITY"

    @property
    def pod_count(self) -> int:
        return 1 + self.workers

    def validate(self) -> None:
        """Raise ConfigError saying what is wrong and what is allowed."""
        if not _CLUSTER_NAME.match(self.name):
            raise ConfigError(
                f"cluster name {self.name!r}: use 1-40 lower-case letters, digits and dashes, "
                "starting and ending with a letter or digit"
            )
        if not self.gpu_type.strip():
            raise ConfigError("choose a GPU type")
        _check_range("GPUs per pod", self.gpu_count, 1, MAX_GPUS_PER_POD)
        _check_range("workers", self.workers, 0, MAX_WORKERS)
        _check_range("volume size (GB)", self.volume_gb, 1, 4000)
        if not self.image.strip() or any(c.isspace() for c in self.image):
            raise ConfigError(f"image {self.image!r}: give a container image reference without spaces")
        if any(c.isspace() for c in self.model):
            raise ConfigError(f"model {self.model!r}: a Hugging Face model id has no spaces")
        if self.cloud_type not in CLOUD_TYPES:
            raise ConfigError(f"cloud type {self.cloud_type!r}: choose one of {', '.join(CLOUD_TYPES)}")


def _check_range(label: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{label} must be a whole number from {low} to {high}, not {value!r}")


class ChangeAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    READ = "read"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class PlannedChange:
    address: str  # "runpod_pod.worker[0]"
    resource_type: str  # "runpod_pod"
    name: str  # "worker"
    action: ChangeAction


@dataclass(frozen=True, slots=True)
class PlanSummary:
    changes: tuple[PlannedChange, ...]
    add: int
    change: int
    remove: int
    cost_per_hour: float  # estimated cost of the cluster after apply (price table x GPUs x pods)


class ProgressKind(StrEnum):
    PLANNED = "planned"
    APPLY_START = "apply_start"
    APPLY_PROGRESS = "apply_progress"
    APPLY_COMPLETE = "apply_complete"
    APPLY_ERRORED = "apply_errored"
    LOG = "log"
    DIAGNOSTIC = "diagnostic"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Progress:
    kind: ProgressKind
    message: str  # human readable, one line (Terraform's @message)
    address: str = ""  # resource address when the message is about one
    done: int = 0  # resources finished so far in this run
    total: int = 0  # resources this run will touch (0 = unknown)
    severity: str = ""  # "error" | "warning" for diagnostics


@dataclass(frozen=True, slots=True)
class PodInfo:
    """One pod from ``terraform output -json``."""

    id: str
    name: str
    role: str  # "head" | "worker"
    gpu_type: str
    gpu_count: int
    cost_per_hour: float
    urls: Mapping[int, str] = field(default_factory=dict)  # port -> "https://{id}-{port}.proxy.runpod.net"


@dataclass(frozen=True, slots=True)
class RunResult:
    ok: bool
    cancelled: bool
    message: str  # what happened / what to do next
    pods: tuple[PodInfo, ...] = ()  # what exists now (after apply: also after a half-failed apply)
