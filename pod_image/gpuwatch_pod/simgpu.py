"""One simulated NVIDIA H100 80GB HBM3: load phases, jobs, power, thermal lag, clocks, counters.

Plain first-order models, tuned so a demo visibly moves within seconds: utilisation drives
power; temperature follows power with a lag (tau 12 s); hot GPUs throttle their SM clock,
which lowers power; power above the limit is capped. Each job is one process whose memory is
allocated when it starts (loading at ~6 GiB/s) and freed when it ends.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from gpuwatch_pod import families as f

MODEL = "NVIDIA H100 80GB HBM3"
FB_TOTAL_MIB = 81559.0
FB_RESERVED_MIB = 579.0
FB_USABLE_MIB = FB_TOTAL_MIB - FB_RESERVED_MIB
POWER_LIMIT_W = 700.0
IDLE_POWER_W = 72.0
LOAD_POWER_W = 600.0  # extra draw at 100 % utilisation and intensity 1
MAX_SM_MHZ = 1980.0
IDLE_SM_MHZ = 345.0
MEM_MHZ = 2619.0
AMBIENT_C = 27.0
TEMP_PER_W = 0.063  # steady-state GPU temperature rise per watt
MEM_TEMP_PER_W = 0.07
TEMP_TAU_S = 12.0
MEM_TEMP_TAU_S = 20.0
SW_THERMAL_C = 87.0  # software thermal slowdown starts here
HW_THERMAL_C = 92.0  # hardware thermal slowdown on top
LOAD_MIB_PER_S = 6000.0


class Phase(Enum):
    IDLE = "idle"
    TRAINING = "training"
    INFERENCE = "inference"


_DURATION_S = {Phase.IDLE: (8.0, 30.0), Phase.TRAINING: (45.0, 180.0), Phase.INFERENCE: (30.0, 120.0)}
_NEXT_PHASE = (Phase.TRAINING, Phase.INFERENCE, Phase.IDLE)
_NEXT_WEIGHTS = (0.45, 0.35, 0.2)
_NAMES = {
    Phase.TRAINING: ("python", "python3", "torchrun"),
    Phase.INFERENCE: ("vllm", "python3", "tritonserver"),
}
_MEMORY_MIB = {Phase.TRAINING: (52000.0, 78000.0), Phase.INFERENCE: (20000.0, 73000.0)}


@dataclass(slots=True)
class SimProcess:
    pid: int
    name: str
    used_mib: float
    target_mib: float


@dataclass(frozen=True, slots=True)
class GpuEnv:
    """What the node's scenario asks of this GPU."""

    jobs_allowed: bool = True
    force_load: bool = False
    ambient_offset_c: float = 0.0
    leak_mib_per_s: float = 0.0


class SimGpu:
    """Mutable state of one GPU; ``step`` advances it, ``values`` reads it as dcgm families."""

    def __init__(self, rng: random.Random, next_pid: Callable[[], int]) -> None:
        self._rng = rng
        self._next_pid = next_pid
        self.phase = Phase.IDLE
        self.phase_left = 0.0
        self.intensity = 1.0
        self.burst_left = 0.0
        self.burst_util = 0.0
        self.util = self.mem_util = 0.0
        self.power = IDLE_POWER_W
        self.temp = self.mem_temp = AMBIENT_C + TEMP_PER_W * IDLE_POWER_W
        self.sm_clock = IDLE_SM_MHZ
        self.throttle = f.THROTTLE_GPU_IDLE
        self.energy_mj = rng.uniform(5e9, 5e10)  # days since boot
        self.xid = 0
        self.ecc_dbe = 0
        self.pcie_replay = 0
        self.procs: list[SimProcess] = []

    def warm_start(self, env: GpuEnv) -> None:
        """Start mid-phase, jobs loaded and temperatures settled, as if running for a while."""
        phase = self._rng.choices(_NEXT_PHASE, _NEXT_WEIGHTS)[0]
        if not env.jobs_allowed:
            phase = Phase.IDLE
        elif env.force_load or env.leak_mib_per_s:
            phase = Phase.TRAINING
        self._start_phase(phase)
        self.phase_left *= self._rng.random()
        for p in self.procs:
            p.used_mib = p.target_mib
        self._update_load(1.0, env)
        self.temp = self._temp_target(GpuEnv())  # settled with working cooling: overheat climbs
        self.mem_temp = self._mem_temp_target(GpuEnv())
        self._update_load(1.0, env)

    def step(self, dt: float, env: GpuEnv) -> None:
        self._update_phase(dt, env)
        self._update_memory(dt, env)
        self._update_load(dt, env)
        self.temp += (self._temp_target(env) - self.temp) * (1.0 - math.exp(-dt / TEMP_TAU_S))
        self.mem_temp += (self._mem_temp_target(env) - self.mem_temp) * (1.0 - math.exp(-dt / MEM_TEMP_TAU_S))
        self.energy_mj += self.power * dt * 1000.0

    def fail(self, xid: int) -> None:
        """An XID error: the GPU's processes die; a double-bit ECC error (XID 48) is counted."""
        self.xid = xid
        if xid == 48:
            self.ecc_dbe += 1
        self.procs.clear()
        self.phase, self.phase_left = Phase.IDLE, 0.0

    def reset(self) -> None:
        """A GPU reset clears the last XID and the volatile ECC counters."""
        self.xid = 0
        self.ecc_dbe = 0

    def used_mib(self) -> float:
        return float(sum(int(p.used_mib) for p in self.procs))

    def values(self) -> dict[str, float]:
        used = self.used_mib()
        return {
            f.GPU_UTIL: round(self.util),
            f.MEM_COPY_UTIL: round(self.mem_util),
            f.FB_USED: used,
            f.FB_FREE: FB_USABLE_MIB - used,
            f.FB_RESERVED: FB_RESERVED_MIB,
            f.GPU_TEMP: round(self.temp),
            f.MEMORY_TEMP: round(self.mem_temp),
            f.POWER_USAGE: round(self.power, 3),
            f.POWER_LIMIT: POWER_LIMIT_W,
            f.TOTAL_ENERGY: float(int(self.energy_mj)),
            f.SM_CLOCK: self.sm_clock,
            f.MEM_CLOCK: MEM_MHZ,
            f.XID_ERRORS: float(self.xid),
            f.PCIE_REPLAY: float(self.pcie_replay),
            f.THROTTLE_REASONS: float(self.throttle),
            f.ECC_DBE: float(self.ecc_dbe),
            f.ECC_SBE: 0.0,
            f.CORRECTABLE_REMAPPED_ROWS: 0.0,
            f.UNCORRECTABLE_REMAPPED_ROWS: 0.0,
            f.ROW_REMAP_FAILURE: 0.0,
        }

    # -- phases and jobs --------------------------------------------------------------------

    def _start_phase(self, phase: Phase) -> None:
        rng = self._rng
        self.phase = phase
        self.phase_left = rng.uniform(*_DURATION_S[phase])
        self.intensity = rng.uniform(0.92, 1.12)
        self.procs.clear()  # the previous job ended: its memory is freed
        if phase is not Phase.IDLE:
            name = rng.choice(_NAMES[phase])
            self.procs.append(SimProcess(self._next_pid(), name, 0.0, rng.uniform(*_MEMORY_MIB[phase])))

    def _update_phase(self, dt: float, env: GpuEnv) -> None:
        if self.xid or not env.jobs_allowed:
            if self.phase is not Phase.IDLE or self.procs:
                self._start_phase(Phase.IDLE)
            return
        if env.force_load and self.phase is not Phase.TRAINING:
            self._start_phase(Phase.TRAINING)
        if env.force_load or env.leak_mib_per_s:
            if self.phase is Phase.IDLE:
                self._start_phase(Phase.TRAINING)
            return  # the job keeps running while the scenario lasts
        self.phase_left -= dt
        if self.phase_left <= 0.0:
            self._start_phase(self._rng.choices(_NEXT_PHASE, _NEXT_WEIGHTS)[0])

    def _update_memory(self, dt: float, env: GpuEnv) -> None:
        for p in self.procs:
            if p.used_mib < p.target_mib:
                p.used_mib = min(p.target_mib, p.used_mib + LOAD_MIB_PER_S * dt)
        leaker = self.procs[0] if env.leak_mib_per_s and self.procs else None
        if leaker is not None and leaker.used_mib >= leaker.target_mib:  # loaded, now leaking
            room = FB_USABLE_MIB - sum(p.used_mib for p in self.procs[1:])
            leaker.used_mib = leaker.target_mib = min(room, leaker.used_mib + env.leak_mib_per_s * dt)

    # -- load, power and clocks -------------------------------------------------------------

    def _target_util(self, dt: float) -> tuple[float, float]:
        """(GPU utilisation, memory-copy utilisation) in % for the current job."""
        rng = self._rng
        if not self.procs:
            return 0.0, 0.0
        if any(p.used_mib < p.target_mib for p in self.procs):
            return rng.uniform(2.0, 8.0), rng.uniform(5.0, 15.0)  # loading weights
        if self.phase is Phase.TRAINING:
            util = 95.0 + rng.gauss(0.0, 2.5) if rng.random() > 0.03 else rng.uniform(20.0, 60.0)
            return util, util * 0.45 + rng.gauss(0.0, 3.0)
        self.burst_left -= dt
        if self.burst_left <= 0.0:  # inference: bursts of requests and quiet gaps
            busy = self.burst_util < 50.0
            self.burst_util = rng.uniform(55.0, 100.0) if busy else rng.uniform(0.0, 8.0)
            self.burst_left = rng.uniform(0.5, 4.0) if busy else rng.uniform(0.5, 3.0)
        util = self.burst_util + rng.gauss(0.0, 3.0)
        return util, util * 0.6

    def _update_load(self, dt: float, env: GpuEnv) -> None:
        util, mem_util = self._target_util(dt)
        self.util = min(100.0, max(0.0, util))
        self.mem_util = min(100.0, max(0.0, mem_util))
        raw = IDLE_POWER_W + LOAD_POWER_W * self.intensity * self.util / 100.0 + self._rng.gauss(0.0, 6.0)
        factor, reasons = self._thermal_factor()
        power = IDLE_POWER_W + (raw - IDLE_POWER_W) * factor
        if power > POWER_LIMIT_W:
            factor *= (POWER_LIMIT_W - IDLE_POWER_W) / (power - IDLE_POWER_W)
            power = POWER_LIMIT_W
            reasons |= f.THROTTLE_SW_POWER_CAP
        self.power = max(IDLE_POWER_W * 0.9, power)
        if self.util < 1.0:
            self.sm_clock = IDLE_SM_MHZ
            reasons |= f.THROTTLE_GPU_IDLE
        else:
            self.sm_clock = float(int(MAX_SM_MHZ * min(1.0, factor) / 15.0) * 15)
        self.throttle = reasons

    def _thermal_factor(self) -> tuple[float, int]:
        """Clock factor (1 = full speed) and throttle reason bits for the current temperature."""
        if self.temp < SW_THERMAL_C:
            return 1.0, 0
        reasons = f.THROTTLE_SW_THERMAL
        if self.temp >= HW_THERMAL_C:
            reasons |= f.THROTTLE_HW_THERMAL | f.THROTTLE_HW_SLOWDOWN
        return max(0.45, 1.0 - 0.06 * (self.temp - (SW_THERMAL_C - 1.0))), reasons

    def _temp_target(self, env: GpuEnv) -> float:
        return AMBIENT_C + env.ambient_offset_c + TEMP_PER_W * self.power

    def _mem_temp_target(self, env: GpuEnv) -> float:
        return AMBIENT_C + 2.0 + env.ambient_offset_c + MEM_TEMP_PER_W * self.power
