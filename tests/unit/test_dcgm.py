"""The dcgm-exporter adapter: real payload fixtures, quirks, blank sentinels, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuProcess, NodeSnapshot
from gpuwatch_desktop.sources.dcgm import parse_node_payload, snapshot_from_payload
from gpuwatch_desktop.sources.promtext import PromTextParser, parse_text

DATA = Path(__file__).resolve().parent.parent / "data"


def series(name: str, gpu: str | None, value: str, **labels: str) -> str:
    pairs = ([f'gpu="{gpu}"'] if gpu is not None else []) + [
        f'UUID="GPU-{gpu}"', 'modelName="NVIDIA H100 80GB HBM3"', 'Hostname="node-a"'
    ] + [f'{k}="{v}"' for k, v in labels.items()]
    return f"{name}{{{','.join(pairs)}}} {value}\n"


def snapshot(text: str) -> NodeSnapshot:
    return snapshot_from_payload("n1", parse_text(text), 123.5)


def base(gpu: str = "0") -> str:
    """The default dcgm-exporter families for one GPU, so that no 'missing' warning appears."""
    return "".join(
        series(name, gpu, "1")
        for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                     "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_SM_CLOCK")
    )


def test_h100_fixture() -> None:
    snap = parse_node_payload(PromTextParser(), "pod-1", (DATA / "dcgm_h100_8gpu.txt").read_text(), 99.0)
    assert (snap.node, snap.hostname, snap.time, snap.sample_count) == ("pod-1", "h100-node-01", 99.0, 233)
    assert snap.warnings == ()
    assert [g.index for g in snap.gpus] == list(range(8))
    not_in_default_counters = {"ecc_sbe"}  # dcgm-exporter's default-counters.csv leaves SBE out
    assert all(set(g.values) == {m.key for m in GPU_METRICS} - not_in_default_counters for g in snap.gpus)
    gpu0 = snap.gpus[0]
    assert gpu0.uuid == "GPU-5d96cf7f-265b-eda9-cf0c-26ef4243ed52"
    assert (gpu0.model, gpu0.pci_bus_id) == ("NVIDIA H100 80GB HBM3", "00000000:18:00.0")
    assert gpu0.values["fb_used"] == 75530 and gpu0.values["fb_free"] == 5471
    assert gpu0.values["power"] == 549.087768 and gpu0.values["energy"] == 7775074273
    assert snap.gpus[7].pci_bus_id == "00000000:DB:00.0"
    assert len(snap.processes) == 9
    assert snap.processes[:2] == (GpuProcess(0, 4100, "python3", 73910.0), GpuProcess(0, 5321, "tritonserver", 1000.0))
    assert [p.gpu_index for p in snap.processes] == [0, 0, 1, 2, 3, 4, 5, 6, 7]


def test_quirks_fixture() -> None:
    snap = snapshot((DATA / "dcgm_quirks.txt").read_text())
    assert snap.hostname == "a100-pod-7"  # from the lowercase 'hostname' label
    assert len(snap.gpus) == 2
    assert "mem_temp" in snap.gpus[0].values and "mem_temp" not in snap.gpus[1].values
    assert all("power_limit" not in g.values and "power" not in g.values for g in snap.gpus)
    assert all(g.values["throttle_reasons"] == 4 for g in snap.gpus)  # the older family name
    assert snap.warnings == ("Power draw: no data (DCGM_FI_DEV_POWER_USAGE missing from payload)",)
    assert snap.notes == (
        "DCGM_FI_DEV_MEMORY_TEMP: not supported (DCGM blank value) on GPU 1",
        "DCGM_FI_DEV_POWER_MGMT_LIMIT: not supported (DCGM blank value) on GPU 0, 1",
    )
    assert snap.processes == ()


@pytest.mark.parametrize(
    "value",
    ["NaN", "9223372036854775792", "9223372036854775794", "9223372036854775807", "9.3e18",
     "2147483632", "2147483634", "2147483647", "140737488355328.0", "140737488355329", "1e300", "+Inf"],
)
def test_blank_sentinels_read_as_no_value(value: str) -> None:
    snap = snapshot(base() + series("DCGM_FI_DEV_MEMORY_TEMP", "0", value))
    assert "mem_temp" not in snap.gpus[0].values
    assert snap.warnings == ()
    assert snap.notes == ("DCGM_FI_DEV_MEMORY_TEMP: not supported (DCGM blank value) on GPU 0",)


@pytest.mark.parametrize("value", ["0", "-1", "2147483631", "2147483648", "140737488355327"])
def test_values_next_to_the_sentinels_are_kept(value: str) -> None:
    snap = snapshot(base() + series("DCGM_FI_DEV_MEMORY_TEMP", "0", value))
    assert snap.gpus[0].values["mem_temp"] == float(value)


def test_counters_keep_int32_and_fp64_blank_lookalikes_but_not_int64_blanks() -> None:
    text = base("0") + base("1")
    text += series("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "0", "2147483640")
    text += series("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "1", "9223372036854775794")
    snap = snapshot(text)
    assert snap.gpus[0].values["energy"] == 2147483640  # a real reading of an int64 counter
    assert "energy" not in snap.gpus[1].values


def test_missing_default_families_warn_once_each() -> None:
    snap = snapshot(series("DCGM_FI_DEV_GPU_UTIL", "0", "5") + series("DCGM_FI_DEV_GPU_UTIL", "1", "7"))
    assert [g.values for g in snap.gpus] == [{"gpu_util": 5.0}, {"gpu_util": 7.0}]
    assert snap.warnings == (
        "Memory used: no data (DCGM_FI_DEV_FB_USED missing from payload)",
        "Memory free: no data (DCGM_FI_DEV_FB_FREE missing from payload)",
        "GPU temperature: no data (DCGM_FI_DEV_GPU_TEMP missing from payload)",
        "Power draw: no data (DCGM_FI_DEV_POWER_USAGE missing from payload)",
        "SM clock: no data (DCGM_FI_DEV_SM_CLOCK missing from payload)",
    )


def test_gpus_sorted_by_index_numerically() -> None:
    snap = snapshot(base("10") + base("2") + base("0"))
    assert [g.index for g in snap.gpus] == [0, 2, 10]
    assert snap.gpus[1].uuid == "GPU-2"


def test_newer_family_name_wins_over_older_in_any_order() -> None:
    for text in (
        series("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "0", "4") + series("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "0", "8"),
        series("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "0", "8") + series("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "0", "4"),
    ):
        assert snapshot(base() + text).gpus[0].values["throttle_reasons"] == 8


def test_samples_without_or_with_a_bad_gpu_label_are_skipped_with_a_warning() -> None:
    text = base() + series("DCGM_FI_DEV_XID_ERRORS", None, "13") + series("DCGM_FI_DEV_XID_ERRORS", None, "31")
    text += series("DCGM_FI_DEV_GPU_TEMP", "x1", "50")
    snap = snapshot(text)
    assert [g.index for g in snap.gpus] == [0] and "xid" not in snap.gpus[0].values
    assert snap.warnings == (
        "DCGM_FI_DEV_XID_ERRORS: 2 sample(s) without a gpu label skipped",
        "DCGM_FI_DEV_GPU_TEMP: bad gpu label 'x1', sample skipped",
    )


def test_processes_and_their_bad_input() -> None:
    family = "gpuwatch_gpu_process_memory_used_mib"
    text = base("0") + base("1")
    text += series(family, "1", "2048", pid="77", process_name="vllm serve")
    text += series(family, "0", "512", pid="900", process_name="python")
    text += series(family, "0", "256", pid="12", process_name="")
    text += series(family, "0", "1", pid="abc", process_name="bad")
    text += series(family, "1", "NaN", pid="78", process_name="blank")
    snap = snapshot(text)
    assert snap.processes == (
        GpuProcess(0, 12, "", 256.0), GpuProcess(0, 900, "python", 512.0), GpuProcess(1, 77, "vllm serve", 2048.0),
    )
    assert snap.warnings == (f"{family}: bad pid label 'abc', sample skipped",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no DCGM GPU metrics in payload"),
        ("# HELP up x\nup 1\nnode_load1 0.5\n", "no DCGM GPU metrics in payload"),
        ('gpuwatch_gpu_process_memory_used_mib{gpu="0",pid="1"} 5\n', "no DCGM GPU metrics in payload"),
        ("DCGM_FI_DEV_GPU_UTIL 5\n", "no DCGM GPU metrics with a gpu label in payload"),
    ],
)
def test_payload_without_gpu_metrics_is_a_parse_error(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        snapshot(text)
    assert caught.value.reason == reason


def test_parse_node_payload_reuses_the_parser_and_reports_bad_lines() -> None:
    parser = PromTextParser()
    first = parse_node_payload(parser, "n", base(), 1.0)
    second = parse_node_payload(parser, "n", base().replace("} 1\n", "} 42\n", 1), 3.0)
    assert (first.gpus[0].values["gpu_util"], second.gpus[0].values["gpu_util"]) == (1.0, 42.0)
    assert second.time == 3.0
    with pytest.raises(ParseError) as caught:
        parse_node_payload(parser, "n", base() + 'DCGM_FI_DEV_GPU_UTIL{gpu="0} 1\n', 5.0)
    assert caught.value.line_number == 7 and "unterminated quote" in caught.value.reason
