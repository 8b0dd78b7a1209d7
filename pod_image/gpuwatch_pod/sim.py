"""Simulated GPU backend: N H100 80GB HBM3 GPUs on one node, switchable to fault scenarios.

Time is passed in (``clock``), and the simulation advances lazily when read, in steps of at
most ``STEP_S``: tests step time deterministically, an idle exporter costs nothing.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable

from gpuwatch_pod.backend import GpuInfo, GpuProcessInfo, GpuReading
from gpuwatch_pod.scenarios import HEALTHY, Scenario, get_scenario
from gpuwatch_pod.simgpu import MODEL, GpuEnv, SimGpu

DRIVER_VERSION = "550.90.07"
STEP_S = 1.0  # longest integration step
MAX_CATCHUP_S = 600.0  # after a longer gap only the last 10 minutes are simulated
_HGX_BUSES = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")  # an 8-GPU HGX H100 board


def _pci_bus_id(index: int) -> str:
    bus = _HGX_BUSES[index] if index < len(_HGX_BUSES) else f"{0xE0 + index - len(_HGX_BUSES):02X}"
    return f"00000000:{bus}:00.0"


class SimBackend:
    """A simulated node. Thread-safe: the exporter may read it from several threads at once."""

    def __init__(
        self,
        gpus: int = 8,
        seed: int = 0,
        hostname: str = "sim-node",
        clock: Callable[[], float] = time.monotonic,
        scenario: str = HEALTHY,
    ) -> None:
        if gpus < 1:
            raise ValueError(f"a simulated node needs at least one GPU, got {gpus}")
        self._scenario = get_scenario(scenario)
        self._hostname = hostname
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}/{hostname}")
        self._pid = self._rng.randrange(2000, 40000)
        self._devices = [self._device(i) for i in range(gpus)]
        self._gpus = [SimGpu(self._rng, self._new_pid) for _ in range(gpus)]
        for i, gpu in enumerate(self._gpus):
            gpu.warm_start(self._env(i))
        self._apply_faults()
        self._now = clock()

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def driver_version(self) -> str:
        return DRIVER_VERSION

    @property
    def scenario(self) -> str:
        return self._scenario.name

    def devices(self) -> list[GpuInfo]:
        return list(self._devices)

    def read(self) -> list[GpuReading]:
        with self._lock:
            self._advance(self._clock())
            return [self._reading(i, gpu) for i, gpu in enumerate(self._gpus)]

    def set_scenario(self, name: str) -> None:
        """Switch to the named scenario (ValueError for an unknown name, nothing changed)."""
        scenario = get_scenario(name)
        with self._lock:
            self._advance(self._clock())
            if scenario.xid != self._scenario.xid:
                self._gpus[-1].reset()
            self._scenario = scenario
            self._apply_faults()

    def close(self) -> None:
        """Nothing to release; here for the backend interface."""

    def _device(self, index: int) -> GpuInfo:
        gpu_uuid = uuid.UUID(int=self._rng.getrandbits(128))
        return GpuInfo(index, f"GPU-{gpu_uuid}", MODEL, _pci_bus_id(index), f"nvidia{index}")

    def _new_pid(self) -> int:
        self._pid += self._rng.randrange(1, 60)
        return self._pid

    def _env(self, index: int) -> GpuEnv:
        s: Scenario = self._scenario
        return GpuEnv(
            jobs_allowed=s.jobs_allowed,
            force_load=s.force_load,
            ambient_offset_c=s.ambient_offset_c,
            leak_mib_per_s=s.leak_mib_per_s if index == 0 else 0.0,
        )

    def _apply_faults(self) -> None:
        if self._scenario.xid and self._gpus[-1].xid != self._scenario.xid:
            self._gpus[-1].fail(self._scenario.xid)

    def _advance(self, now: float) -> None:
        elapsed = now - self._now
        if elapsed <= 0.0:
            return
        skipped = max(0.0, elapsed - MAX_CATCHUP_S)
        for gpu in self._gpus:
            gpu.energy_mj += gpu.power * skipped * 1000.0
        envs = [self._env(i) for i in range(len(self._gpus))]
        left = elapsed - skipped
        while left > 1e-9:
            dt = min(STEP_S, left)
            for gpu, env in zip(self._gpus, envs, strict=True):
                gpu.step(dt, env)
            left -= dt
        self._now = now

    def _reading(self, index: int, gpu: SimGpu) -> GpuReading:
        procs = tuple(GpuProcessInfo(p.pid, p.name, float(int(p.used_mib))) for p in gpu.procs)
        return GpuReading(index, gpu.values(), procs)
