"""What a GPU backend provides to the exporter: device identities and readings.

The simulated backend (``sim.SimBackend``) implements it today; an NVML backend (nvidia-ml-py)
fits the same shape: ``devices()`` from nvmlDeviceGetHandleByIndex/GetUUID/GetName/GetPciInfo,
``read()`` from the per-field queries, a field the GPU does not support simply left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """A GPU's identity; does not change while the exporter runs."""

    index: int
    uuid: str  # "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    model: str  # e.g. "NVIDIA H100 80GB HBM3"
    pci_bus_id: str  # e.g. "00000000:18:00.0"
    device: str  # e.g. "nvidia0"


@dataclass(frozen=True, slots=True)
class GpuProcessInfo:
    pid: int
    name: str
    used_mib: float


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One read of one GPU. ``values``: dcgm family name -> value; a missing key means no value."""

    index: int
    values: Mapping[str, float]
    processes: tuple[GpuProcessInfo, ...] = field(default=())


class GpuBackend(Protocol):
    """A source of GPU readings. ``read()`` may be called from several threads at once."""

    @property
    def hostname(self) -> str: ...

    @property
    def driver_version(self) -> str: ...

    def devices(self) -> list[GpuInfo]: ...

    def read(self) -> list[GpuReading]: ...

    def close(self) -> None: ...


@runtime_checkable
class SupportsScenarios(Protocol):
    """A backend whose behaviour can be switched to a named fault scenario (the simulator)."""

    @property
    def scenario(self) -> str: ...

    def set_scenario(self, name: str) -> None: ...
