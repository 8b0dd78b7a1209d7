"""DcgmReader: a node's successive payloads give exactly what a fresh parse of each gives.

The reader patches the last snapshot when only values changed; these tests drive it through
value changes, blank sentinels coming and going, older and newer family names, processes,
bad labels, changed series, added and dropped lines and bad input, against the full path.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.core.snapshot import NodeSnapshot
from gpuwatch_desktop.sources.dcgm import DcgmReader, snapshot_from_payload
from gpuwatch_desktop.sources.promtext import parse_text
from gpuwatch_pod.render import MetricsRenderer
from gpuwatch_pod.sim import SimBackend

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FAMILIES = (
    "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "DCGM_FI_DEV_FB_USED",
    "gpuwatch_gpu_process_memory_used_mib", "node_load1",
)
GPU_LABELS = ("0", "1", "2", None, "x")
VALUES = (
    "0", "1", "42", "3.5", "-1", "1e3", "NaN", "+Inf", "9223372036854775792", "9223372036854775794",
    "2147483632", "2147483647", "140737488355328.0", "0x1p3", "garbage", "7 1700000000000",
)
Outcome = NodeSnapshot | tuple[int, str]


@st.composite
def lines(draw: st.DrawFn) -> list[str]:
    """A payload's lines: samples of GPU, process and other families with HELP/TYPE and comments."""
    out = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(st.sampled_from(["# HELP DCGM_FI_DEV_GPU_UTIL util", "# TYPE x gauge", "", "# c"])))
            continue
        name, gpu = draw(st.sampled_from(FAMILIES)), draw(st.sampled_from(GPU_LABELS))
        labels = ([f'gpu="{gpu}"'] if gpu is not None else []) + [f'UUID="GPU-{gpu}"', 'Hostname="h"']
        labels.append(f'pid="{draw(st.sampled_from(["7", "9", "p"]))}"')
        out.append(f"{name}{{{','.join(labels)}}} {draw(st.sampled_from(VALUES))}")
    return out


@st.composite
def next_payload(draw: st.DrawFn, last: list[str]) -> list[str]:
    """Mostly new values on the same series; sometimes a changed series, an added or a dropped line."""
    out = list(last)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(out) - 1))
        action = draw(st.integers(0, 9))
        if action < 7 and not out[i].startswith("#") and out[i]:
            out[i] = out[i].rsplit(" ", 1)[0] + " " + draw(st.sampled_from(VALUES))
        elif action == 7:
            out[i] = draw(lines())[0]
        elif action == 8:
            out.insert(i, draw(lines())[0])
        elif len(out) > 1:
            del out[i]
    return out


def fresh(text: str, time: float) -> Outcome:
    try:
        return snapshot_from_payload("n", parse_text(text), time)
    except ParseError as exc:
        return exc.line_number, exc.reason


def warm(reader: DcgmReader, text: str, time: float) -> Outcome:
    try:
        return reader.read("n", text, time)
    except ParseError as exc:
        return exc.line_number, exc.reason


@SETTINGS
@given(st.data())
def test_successive_payloads_read_as_fresh_parses(data: st.DataObject) -> None:
    reader, payload = DcgmReader(), data.draw(lines())
    for step in range(data.draw(st.integers(2, 6))):
        text = "\n".join(payload) + "\n"
        assert warm(reader, text, float(step)) == fresh(text, float(step))
        payload = data.draw(next_payload(payload))


def test_simulated_node_scraped_for_two_minutes_reads_as_fresh_parses() -> None:
    clock = [1_700_000_000.0]
    sim = SimBackend(8, seed=3, hostname="node-1", clock=lambda: clock[0], scenario="healthy")
    renderer, reader = MetricsRenderer(sim.devices(), sim.hostname, sim.driver_version), DcgmReader()
    changed_processes = 0
    last: NodeSnapshot | None = None
    for _ in range(60):
        clock[0] += 2.0
        text = renderer.render(sim.read()).decode()
        snapshot = reader.read("n", text, clock[0])
        assert snapshot == fresh(text, clock[0])
        if last is not None and [p.pid for p in last.processes] != [p.pid for p in snapshot.processes]:
            changed_processes += 1
        last = snapshot
    assert changed_processes > 0  # the simulator starts and stops processes: the full path ran too


def test_a_bad_line_after_good_payloads_is_reported_with_its_line_number() -> None:
    reader = DcgmReader()
    good = 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0"} 5\nDCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-0"} 50\n'
    assert reader.read("n", good, 1.0).gpus[0].values == {"gpu_util": 5.0, "gpu_temp": 50.0}
    second = reader.read("n", good.replace("} 50", "} 51"), 3.0)
    assert (second.time, second.gpus[0].values) == (3.0, {"gpu_util": 5.0, "gpu_temp": 51.0})
    assert fresh(good.replace("} 50", "} fifty"), 5.0) == (2, "bad value 'fifty'")
    assert warm(reader, good.replace("} 50", "} fifty"), 5.0) == (2, "bad value 'fifty'")
    blank = reader.read("n", good.replace("} 50", "} 9223372036854775794"), 7.0)
    assert blank.gpus[0].values == {"gpu_util": 5.0}
    assert blank.notes == ("DCGM_FI_DEV_GPU_TEMP: not supported (DCGM blank value) on GPU 0",)
