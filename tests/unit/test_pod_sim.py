"""The simulated GPU backend: identities, consistency and the dynamics each scenario promises."""

from __future__ import annotations

import itertools
import random

import pytest

from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_pod import families as f
from gpuwatch_pod.backend import GpuReading
from gpuwatch_pod.sim import SimBackend
from gpuwatch_pod.simgpu import FB_TOTAL_MIB, FB_USABLE_MIB, GpuEnv, SimGpu


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(sim: SimBackend, clock: Clock, seconds: float, every: float = 1.0) -> list[list[GpuReading]]:
    """Step the clock ``every`` seconds for ``seconds`` and read after each step."""
    out = []
    for _ in range(round(seconds / every)):
        clock.now += every
        out.append(sim.read())
    return out


def make(scenario: str = "healthy", gpus: int = 8, seed: int = 0) -> tuple[SimBackend, Clock]:
    clock = Clock()
    return SimBackend(gpus, seed=seed, hostname="node-1", clock=clock, scenario=scenario), clock


def test_devices_are_eight_distinct_h100s_with_stable_identities() -> None:
    sim, _ = make()
    devices = sim.devices()
    assert [d.index for d in devices] == list(range(8))
    assert {d.model for d in devices} == {"NVIDIA H100 80GB HBM3"}
    assert len({d.uuid for d in devices}) == 8 and all(d.uuid.startswith("GPU-") for d in devices)
    assert len({d.pci_bus_id for d in devices}) == 8
    assert [d.device for d in devices] == [f"nvidia{i}" for i in range(8)]
    assert make()[0].devices() == devices  # same seed and hostname: same GPUs
    assert make(seed=1)[0].devices() != devices


def test_every_desktop_metric_is_served() -> None:
    sim, _ = make()
    served = set(sim.read()[0].values)
    assert served == f.FAMILY_NAMES
    for spec in GPU_METRICS:
        assert served & set(spec.dcgm_names), f"{spec.key} has no served family"


def test_same_seed_same_story_and_values_move_within_seconds() -> None:
    a, clock_a = make(seed=7)
    b, clock_b = make(seed=7)
    reads_a = run(a, clock_a, 5)
    assert reads_a == run(b, clock_b, 5)
    powers = {r[i].values[f.POWER_USAGE] for r in reads_a for i in range(8)}
    assert len(powers) > 8  # power moves from second to second


def test_memory_is_consistent_with_processes() -> None:
    sim, clock = make()
    for reading in [g for r in run(sim, clock, 300, every=5) for g in r]:
        v = reading.values
        assert v[f.FB_USED] + v[f.FB_FREE] + v[f.FB_RESERVED] == FB_TOTAL_MIB
        assert v[f.FB_USED] == sum(p.used_mib for p in reading.processes)


def test_healthy_node_cycles_jobs_and_frees_their_memory() -> None:
    sim, clock = make()
    reads = run(sim, clock, 900, every=2)
    gpu0 = [r[0] for r in reads]
    assert max(g.values[f.GPU_UTIL] for g in gpu0) > 85
    assert min(g.values[f.GPU_UTIL] for g in gpu0) < 10
    assert len({p.pid for g in gpu0 for p in g.processes}) >= 3
    steps = [(a[i], b[i]) for a, b in itertools.pairwise(reads) for i in range(8)]
    freed = [a for a, b in steps if a.processes and b.values[f.FB_USED] < a.values[f.FB_USED] - 15000]
    assert freed, "a job ending frees its memory"
    assert any(g.values[f.FB_USED] == 0 for r in reads for g in r)  # some GPU sat idle
    flat = [g for r in reads for g in r]
    assert max(g.values[f.POWER_USAGE] for g in flat) > 600
    assert all(g.values[f.GPU_TEMP] < 85 for g in flat)
    assert not any(int(g.values[f.THROTTLE_REASONS]) & f.THROTTLE_SW_THERMAL for g in flat)


def test_temperature_lags_power() -> None:
    gpu = SimGpu(random.Random(3), iter(range(100, 200)).__next__)
    env = GpuEnv(force_load=True)
    start_temp = gpu.temp
    series = []
    for _ in range(120):
        gpu.step(1.0, env)
        series.append((gpu.power, gpu.temp))
    loaded_at = next(t for t, (power, _) in enumerate(series) if power > 500)
    assert loaded_at < 20
    final_temp = series[-1][1]
    assert final_temp > start_temp + 25
    assert series[loaded_at][1] < start_temp + 0.2 * (final_temp - start_temp)
    most_of_rise = start_temp + 0.8 * (final_temp - start_temp)
    settled_at = next(t for t, (_, temp) in enumerate(series) if temp > most_of_rise)
    assert settled_at - loaded_at >= 10


def test_overheat_climbs_past_90_and_throttles() -> None:
    sim, clock = make()
    sim.set_scenario("overheat")
    reads = run(sim, clock, 240)
    for g in reads[-1]:
        assert g.values[f.GPU_TEMP] > 90
        assert g.values[f.SM_CLOCK] < 1500
        assert int(g.values[f.THROTTLE_REASONS]) & f.THROTTLE_SW_THERMAL
    assert any(int(g.values[f.THROTTLE_REASONS]) & f.THROTTLE_HW_THERMAL for g in reads[-1])
    sim.set_scenario("healthy")
    cooled = run(sim, clock, 240)[-1]
    assert all(g.values[f.GPU_TEMP] < 85 for g in cooled)


def test_idle_means_no_load_no_power_no_processes() -> None:
    sim, clock = make()
    sim.set_scenario("idle")
    for g in run(sim, clock, 60)[-1]:
        assert g.values[f.GPU_UTIL] == 0
        assert g.values[f.POWER_USAGE] < 100
        assert g.values[f.FB_USED] == 0 and g.processes == ()
        assert g.values[f.SM_CLOCK] == 345
        assert int(g.values[f.THROTTLE_REASONS]) & f.THROTTLE_GPU_IDLE


def test_xid_hits_the_last_gpu_and_kills_its_processes() -> None:
    sim, clock = make(scenario="xid")
    for reads in run(sim, clock, 120, every=10):
        *others, last = reads
        assert last.values[f.XID_ERRORS] == 48
        assert last.values[f.ECC_DBE] == 1
        assert last.processes == () and last.values[f.FB_USED] == 0
        assert all(g.values[f.XID_ERRORS] == 0 for g in others)
    sim.set_scenario("healthy")
    assert sim.read()[-1].values[f.XID_ERRORS] == 0


def test_memory_leak_grows_gpu0_process_until_full() -> None:
    sim, clock = make(scenario="memory-leak")
    gpu0 = [r[0] for r in run(sim, clock, 400, every=2)]
    used = [g.values[f.FB_USED] for g in gpu0]
    growing = used[: used.index(FB_USABLE_MIB)]
    assert len(growing) > 5 and all(b > a for a, b in itertools.pairwise(growing))
    assert used[-1] == FB_USABLE_MIB and gpu0[-1].values[f.FB_FREE] == 0
    assert len({p.pid for g in gpu0[2:] for p in g.processes}) == 1  # the same process, not new jobs


def test_energy_counter_integrates_power_and_never_decreases() -> None:
    sim, clock = make()
    reads = run(sim, clock, 300)
    for before, after in itertools.pairwise(reads):
        for b, a in zip(before, after, strict=True):
            delta_mj = a.values[f.TOTAL_ENERGY] - b.values[f.TOTAL_ENERGY]
            assert delta_mj == pytest.approx(a.values[f.POWER_USAGE] * 1000.0, abs=2.0)


def test_unknown_scenario_is_refused_and_changes_nothing() -> None:
    sim, _ = make(scenario="idle")
    with pytest.raises(ValueError, match=r"unknown scenario 'melt'.*overheat.*memory-leak"):
        sim.set_scenario("melt")
    assert sim.scenario == "idle"
    with pytest.raises(ValueError, match="unknown scenario"):
        SimBackend(scenario="melt")
