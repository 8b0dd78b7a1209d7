"""Rendering: what a Prometheus parser (prometheus_client's) reads back from the exporter's text."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gpuwatch_pod import families as f
from gpuwatch_pod.__main__ import parse_scenarios
from gpuwatch_pod.backend import GpuInfo, GpuProcessInfo, GpuReading
from gpuwatch_pod.render import MetricsRenderer, RenderOptions, garbage
from gpuwatch_pod.scenarios import SCENARIOS, get_scenario
from gpuwatch_pod.sim import SimBackend

LABEL_ORDER = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"]


def render_sim(options: RenderOptions | None = None, scenario: str = "healthy") -> tuple[str, SimBackend]:
    sim = SimBackend(8, seed=0, hostname="node-1", clock=lambda: 0.0, scenario=scenario)
    renderer = MetricsRenderer(sim.devices(), sim.hostname, sim.driver_version, options)
    return renderer.render(sim.read()).decode(), sim


def parse(text: str) -> dict[str, tuple[str, list[Sample]]]:
    return {fam.name: (fam.type, fam.samples) for fam in text_string_to_metric_families(text)}


def test_every_family_parses_with_its_type_and_one_sample_per_gpu() -> None:
    text, _ = render_sim()
    parsed = parse(text)
    assert set(parsed) == f.FAMILY_NAMES | {f.PROCESS_MEMORY_FAMILY}
    for fam in f.FAMILIES:
        kind, samples = parsed[fam.name]
        assert kind == fam.type
        assert sorted(s.labels["gpu"] for s in samples) == [str(i) for i in range(8)]
        assert f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.type}\n" in text


def test_labels_come_in_dcgm_exporter_order() -> None:
    text, sim = render_sim()
    first = next(line for line in text.splitlines() if line.startswith(f.GPU_UTIL + "{"))
    assert re.findall(r'(\w+)="', first) == LABEL_ORDER
    gpu0 = sim.devices()[0]
    labels = parse(text)[f.GPU_UTIL][1][0].labels
    assert labels == {
        "gpu": "0", "UUID": gpu0.uuid, "pci_bus_id": "00000000:18:00.0", "device": "nvidia0",
        "modelName": "NVIDIA H100 80GB HBM3", "Hostname": "node-1", "DCGM_FI_DRIVER_VERSION": "550.90.07",
    }


def test_values_are_in_dcgm_exporter_units() -> None:
    parsed = parse(render_sim()[0])

    def by_gpu(name: str) -> dict[str, float]:
        return {s.labels["gpu"]: s.value for s in parsed[name][1]}

    used, free, reserved = by_gpu(f.FB_USED), by_gpu(f.FB_FREE), by_gpu(f.FB_RESERVED)
    assert all(used[g] + free[g] + reserved[g] == 81559 for g in used)  # MiB, an 80 GB H100
    assert all(50 < w <= 700 for w in by_gpu(f.POWER_USAGE).values())  # W
    assert set(by_gpu(f.POWER_LIMIT).values()) == {700.0}
    assert all(20 < c < 90 for c in by_gpu(f.GPU_TEMP).values())  # °C
    assert all(300 <= mhz <= 1980 for mhz in by_gpu(f.SM_CLOCK).values())  # MHz
    assert all(mj > 1e9 for mj in by_gpu(f.TOTAL_ENERGY).values())  # mJ since boot
    assert set(by_gpu(f.XID_ERRORS).values()) == {0.0} and set(by_gpu(f.ECC_DBE).values()) == {0.0}


def test_process_memory_family_adds_up_to_fb_used() -> None:
    parsed = parse(render_sim()[0])
    processes = parsed[f.PROCESS_MEMORY_FAMILY][1]
    assert processes and all(s.labels["pid"].isdigit() and s.labels["process_name"] for s in processes)
    assert list(processes[0].labels)[:7] == LABEL_ORDER
    for sample in parsed[f.FB_USED][1]:
        gpu = sample.labels["gpu"]
        assert sum(p.value for p in processes if p.labels["gpu"] == gpu) == sample.value


def test_idle_node_serves_no_process_family() -> None:
    assert f.PROCESS_MEMORY_FAMILY not in parse(render_sim(scenario="idle")[0])


def test_quirks_lowercase_hostname_and_blank_sentinel() -> None:
    options = RenderOptions(hostname_label="hostname", blank_families=frozenset({f.MEMORY_TEMP}))
    text, _ = render_sim(options)
    parsed = parse(text)
    assert all(s.labels["hostname"] == "node-1" and "Hostname" not in s.labels for s in parsed[f.GPU_TEMP][1])
    assert {s.value for s in parsed[f.MEMORY_TEMP][1]} == {f.BLANK_SENTINEL}
    assert text.count("} 9223372036854775794\n") == 8
    assert all(s.value < 100 for s in parsed[f.GPU_TEMP][1])  # other families untouched


def test_missing_values_leave_samples_out_and_labels_are_escaped() -> None:
    gpus = [GpuInfo(i, f"GPU-{i}", 'Odd "GPU"\\', f"0000:0{i}:00.0", f"nvidia{i}") for i in range(2)]
    renderer = MetricsRenderer(gpus, "host\nname", "1.0")
    readings = [
        GpuReading(0, {f.GPU_UTIL: 50.0, f.GPU_TEMP: 40.0}, (GpuProcessInfo(7, 'a "b"', 100.0),)),
        GpuReading(1, {f.GPU_UTIL: 60.0}),
    ]
    parsed = parse(renderer.render(readings).decode())
    assert set(parsed) == {f.GPU_UTIL, f.GPU_TEMP, f.PROCESS_MEMORY_FAMILY}
    assert [s.labels["gpu"] for s in parsed[f.GPU_TEMP][1]] == ["0"]
    util = parsed[f.GPU_UTIL][1][1]
    assert util.labels["modelName"] == 'Odd "GPU"\\' and util.labels["Hostname"] == "host\nname"
    assert parsed[f.PROCESS_MEMORY_FAMILY][1][0].labels["process_name"] == 'a "b"'


def test_bad_render_options_are_refused() -> None:
    with pytest.raises(ValueError, match="hostname label"):
        RenderOptions(hostname_label="HOST")
    with pytest.raises(ValueError, match="DCGM_FI_DEV_NOPE"):
        RenderOptions(blank_families=frozenset({"DCGM_FI_DEV_NOPE"}))


def test_garbage_is_not_valid_prometheus_text() -> None:
    body = render_sim()[0].encode()
    junk = garbage(body)
    with pytest.raises(UnicodeDecodeError):
        junk.decode()
    with pytest.raises(ValueError):
        parse(junk.decode("utf-8", "replace"))


def test_scenario_names_and_cli_targets() -> None:
    assert set(SCENARIOS) == {"healthy", "overheat", "xid", "idle", "memory-leak", "node-down", "garbage"}
    with pytest.raises(ValueError, match="known: healthy, overheat"):
        get_scenario("Overheat")
    everywhere = {"node-1": "overheat", "node-2": "overheat", "node-3": "overheat"}
    assert parse_scenarios(["overheat"], 3) == everywhere
    assert parse_scenarios(["idle", "xid@node-2"], 2) == {"node-1": "idle", "node-2": "xid"}
    with pytest.raises(ValueError, match="unknown scenario 'melt'"):
        parse_scenarios(["melt@node-1"], 2)
