"""NvmlBackend against a fake pynvml (tests/fake_nvml): values in dcgm units, one failure policy, lost GPUs, XIDs."""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gpuwatch_pod import families as f
from gpuwatch_pod.backend import GpuProcessInfo, GpuReading
from gpuwatch_pod.nvml import NvmlBackend, NvmlUnavailable

FAKE_PATH = Path(__file__).parents[1] / "fake_nvml" / "pynvml.py"
BACKEND_PATH = Path(__file__).parents[2] / "pod_image" / "gpuwatch_pod" / "nvml.py"
MIB = 1024 * 1024
UUID0 = "GPU-0a0a0a0a-0000-0000-0000-000000000000"
UUID1 = "GPU-1b1b1b1b-1111-1111-1111-111111111111"


@pytest.fixture
def nvml() -> Iterator[Any]:
    """A fresh fake pynvml module with two H100s (state shared by nothing else)."""
    name = f"fake_pynvml_{id(object())}"
    spec = importlib.util.spec_from_file_location(name, FAKE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while they are made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    module.configure(gpus=[
        module.FakeGpu(uuid=UUID0, bus_id="00000000:18:00.0", minor=0),
        module.FakeGpu(uuid=UUID1, bus_id="00000000:2A:00.0", minor=3),
    ])
    yield module
    assert module.state().initialized == 0, "NVML was left initialized"


@pytest.fixture
def backend(nvml: Any, tmp_path: Path) -> Iterator[NvmlBackend]:
    b = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    yield b
    b.close()


def by_index(readings: list[GpuReading]) -> dict[int, GpuReading]:
    return {r.index: r for r in readings}


def test_devices_carry_dcgm_exporter_labels(backend: NvmlBackend) -> None:
    devices = backend.devices()
    assert [(d.index, d.uuid, d.pci_bus_id, d.device) for d in devices] == [
        (0, UUID0, "00000000:18:00.0", "nvidia0"), (1, UUID1, "00000000:2A:00.0", "nvidia3"),
    ]
    assert {d.model for d in devices} == {"NVIDIA H100 80GB HBM3"}
    assert (backend.hostname, backend.driver_version) == ("pod-1", "550.90.07")


def test_values_come_in_dcgm_units(nvml: Any, backend: NvmlBackend) -> None:
    gpu = nvml.state().gpus[1]
    gpu.util_gpu, gpu.util_memory, gpu.memory_used = 97, 41, 60000 * MIB + 123
    gpu.power_mw, gpu.power_limit_mw, gpu.energy_mj = 654321, 700000, 98_765_432_109
    gpu.temperature, gpu.memory_temperature, gpu.sm_mhz, gpu.mem_mhz = 71, 80, 1980, 2619
    gpu.pcie_replay, gpu.clocks_event_reasons = 3, nvml.nvmlClocksEventReasonSwPowerCap
    gpu.ecc_corrected, gpu.ecc_uncorrected, gpu.remapped_rows = 12, 1, [2, 1, 0, 0]
    values = by_index(backend.read())[1].values
    assert values == {
        f.GPU_UTIL: 97, f.MEM_COPY_UTIL: 41,
        f.FB_USED: 60000, f.FB_FREE: 81559 - 527 - 60001, f.FB_RESERVED: 527,  # whole MiB, rounded down
        f.GPU_TEMP: 71, f.MEMORY_TEMP: 80, f.POWER_USAGE: 654.321, f.POWER_LIMIT: 700.0,
        f.TOTAL_ENERGY: 98_765_432_109, f.SM_CLOCK: 1980, f.MEM_CLOCK: 2619, f.PCIE_REPLAY: 3,
        f.THROTTLE_REASONS: 0x4, f.ECC_DBE: 1, f.ECC_SBE: 12,
        f.CORRECTABLE_REMAPPED_ROWS: 2, f.UNCORRECTABLE_REMAPPED_ROWS: 1, f.ROW_REMAP_FAILURE: 0,
        f.XID_ERRORS: 0,
    }
    assert set(values) == f.FAMILY_NAMES  # an H100 gives every family the exporter serves


def test_unsupported_calls_are_no_value_and_logged_once(
    nvml: Any, backend: NvmlBackend, caplog: pytest.LogCaptureFixture
) -> None:
    gpu0 = nvml.state().gpus[0]
    gpu0.errors = {"nvmlDeviceGetRemappedRows": nvml.NVML_ERROR_NOT_SUPPORTED,
                   "nvmlDeviceGetTotalEccErrors": nvml.NVML_ERROR_NOT_SUPPORTED}
    gpu0.memory_temperature = None  # the call works, its field value says NOT_SUPPORTED
    with caplog.at_level(logging.INFO, logger="gpuwatch_pod.nvml"):
        first, second = backend.read(), backend.read()
    for readings in (first, second):
        missing = f.FAMILY_NAMES - set(by_index(readings)[0].values)
        assert missing == {f.MEMORY_TEMP, f.ECC_DBE, f.ECC_SBE, f.CORRECTABLE_REMAPPED_ROWS,
                           f.UNCORRECTABLE_REMAPPED_ROWS, f.ROW_REMAP_FAILURE}
        assert set(by_index(readings)[1].values) == f.FAMILY_NAMES  # the other GPU keeps all of them
    messages = sorted(r.getMessage() for r in caplog.records)
    assert messages == [
        "GPU 0: double-bit ECC errors is not supported here; served as no value",
        "GPU 0: memory temperature is not supported here; served as no value",
        "GPU 0: remapped rows is not supported here; served as no value",
        "GPU 0: single-bit ECC errors is not supported here; served as no value",
    ]


def test_a_driver_error_is_no_value_until_the_call_works_again(
    nvml: Any, backend: NvmlBackend, caplog: pytest.LogCaptureFixture
) -> None:
    gpu1 = nvml.state().gpus[1]
    gpu1.errors = {"nvmlDeviceGetPowerUsage": nvml.NVML_ERROR_UNKNOWN,
                   "nvmlDeviceGetComputeRunningProcesses": "mismatch"}  # an unversioned call the driver lacks
    gpu1.compute_processes = [[4242, 1024 * MIB]]
    with caplog.at_level(logging.WARNING, logger="gpuwatch_pod.nvml"):
        for _ in range(3):
            reading = by_index(backend.read())[1]
            assert f.POWER_USAGE not in reading.values and reading.values[f.GPU_TEMP] == 33
            assert reading.processes == ()
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "power usage failed (NVMLError_Unknown: Unknown Error)" in caplog.text
    assert "compute processes failed (NVMLLibraryMismatchError" in caplog.text
    gpu1.errors = {}
    reading = by_index(backend.read())[1]
    assert reading.values[f.POWER_USAGE] == pytest.approx(71.234)
    assert [p.pid for p in reading.processes] == [4242]


def test_memory_falls_back_to_v1_on_a_driver_without_v2(nvml: Any, backend: NvmlBackend) -> None:
    gpu0 = nvml.state().gpus[0]
    gpu0.memory_used = 1000 * MIB
    gpu0.errors = {"nvmlDeviceGetMemoryInfo_v2": nvml.NVML_ERROR_FUNCTION_NOT_FOUND}
    values = by_index(backend.read())[0].values
    assert (values[f.FB_USED], values[f.FB_FREE]) == (1000 + 527, 81559 - 1527)
    assert f.FB_RESERVED not in values


def test_throttle_reasons_from_the_older_call_when_the_newer_one_is_missing(nvml: Any, tmp_path: Path) -> None:
    del nvml.nvmlDeviceGetCurrentClocksEventReasons  # nvidia-ml-py before 12.535 has only ...ThrottleReasons
    nvml.state().gpus[0].clocks_event_reasons = 0x44
    backend = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    try:
        assert by_index(backend.read())[0].values[f.THROTTLE_REASONS] == 0x44
        assert "nvmlDeviceGetCurrentClocksThrottleReasons" in nvml.state().calls
    finally:
        backend.close()


def test_a_gpu_lost_mid_run_is_left_out_and_the_others_served(
    nvml: Any, backend: NvmlBackend, caplog: pytest.LogCaptureFixture
) -> None:
    assert sorted(by_index(backend.read())) == [0, 1]
    nvml.state().gpus[1].lost = True
    with caplog.at_level(logging.INFO, logger="gpuwatch_pod.nvml"):
        for _ in range(3):
            readings = backend.read()
            assert [r.index for r in readings] == [0]
            assert set(readings[0].values) == f.FAMILY_NAMES
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert f"GPU 1 ({UUID1}) is lost" in caplog.text
    nvml.state().gpus[1].lost = False  # a lost GPU needs a reset: the exporter does not take it back
    assert [r.index for r in backend.read()] == [0]
    assert len(backend.devices()) == 2  # its labels stay known to the renderer


def test_a_gpu_lost_before_start_is_left_out(nvml: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nvml.state().gpus[0].lost = True
    with caplog.at_level(logging.ERROR, logger="gpuwatch_pod.nvml"):
        backend = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    try:
        assert [d.uuid for d in backend.devices()] == [UUID1]
        assert [r.index for r in backend.read()] == [1]
        assert "GPU 0 is lost" in caplog.text
    finally:
        backend.close()


def test_xid_events_give_the_last_xid_per_gpu(nvml: Any, backend: NvmlBackend) -> None:
    assert [r.values[f.XID_ERRORS] for r in backend.read()] == [0, 0]
    nvml.state().post_xid(1, 79)
    assert [r.values[f.XID_ERRORS] for r in backend.read()] == [0, 79]
    nvml.state().post_xid(1, 48)
    nvml.state().post_xid(0, 13)
    nvml.state().post_xid(1, 94)
    assert [r.values[f.XID_ERRORS] for r in backend.read()] == [13, 94]
    assert [r.values[f.XID_ERRORS] for r in backend.read()] == [13, 94]  # kept until the exporter restarts


def test_xid_is_no_value_where_events_cannot_be_registered(nvml: Any, tmp_path: Path) -> None:
    nvml.state().gpus[0].errors = {"nvmlDeviceRegisterEvents": nvml.NVML_ERROR_NOT_SUPPORTED}
    backend = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    try:
        nvml.state().post_xid(0, 31)  # not registered: NVML never delivers it
        readings = by_index(backend.read())
        assert f.XID_ERRORS not in readings[0].values and readings[1].values[f.XID_ERRORS] == 0
    finally:
        backend.close()
    assert nvml.state().event_sets == {}  # the event set was freed


def test_no_event_support_at_all_leaves_xid_out(nvml: Any, tmp_path: Path) -> None:
    nvml.state().system_errors = {"nvmlEventSetCreate": nvml.NVML_ERROR_NOT_SUPPORTED}
    backend = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    try:
        assert all(f.XID_ERRORS not in r.values for r in backend.read())
    finally:
        backend.close()


def test_processes_with_memory_and_names(nvml: Any, backend: NvmlBackend, tmp_path: Path) -> None:
    (tmp_path / "5150").mkdir()
    (tmp_path / "5150" / "comm").write_text("trainer\n")
    gpu0 = nvml.state().gpus[0]
    gpu0.compute_processes = [[7001, 30 * 1024 * MIB + 5], [5150, 512 * MIB], [6000, None]]
    gpu0.graphics_processes = [[7001, 30 * 1024 * MIB + 5], [6100, 2 * MIB]]
    nvml.state().process_names = {"7001": "/usr/bin/python3.12"}
    expected = (
        GpuProcessInfo(5150, "trainer", 512.0),  # NVML does not know it (another PID namespace): /proc/<pid>/comm
        GpuProcessInfo(6100, "unknown", 2.0),
        GpuProcessInfo(7001, "python3.12", 30720.0),  # in both lists: once
    )  # 6000: NVML reports no memory for it (WDDM-style None): left out
    assert by_index(backend.read())[0].processes == expected
    calls = len(nvml.state().calls)
    assert by_index(backend.read())[0].processes == expected
    assert "nvmlSystemGetProcessName" not in nvml.state().calls[calls:]  # names of known PIDs are kept


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("NVML_ERROR_LIBRARY_NOT_FOUND", "libnvidia-ml.so.1"),
        ("NVML_ERROR_DRIVER_NOT_LOADED", "driver is not loaded"),
        ("NVML_ERROR_NO_PERMISSION", "no permission"),
        ("NVML_ERROR_UNKNOWN", "NVML failed to start: Unknown Error"),
    ],
)
def test_nvml_that_cannot_start_is_a_clear_error(nvml: Any, code: str, words: str) -> None:
    nvml.state().init_error = getattr(nvml, code)
    with pytest.raises(NvmlUnavailable, match=re.escape(words)):
        NvmlBackend("pod-1", nvml=nvml)


def test_no_gpu_is_a_clear_error_and_nvml_is_shut_down(nvml: Any) -> None:
    nvml.configure(gpus=[])
    with pytest.raises(NvmlUnavailable, match="no usable GPU"):
        NvmlBackend("pod-1", nvml=nvml)


def test_close_is_idempotent_and_read_after_close_is_empty(nvml: Any, tmp_path: Path) -> None:
    backend = NvmlBackend("pod-1", nvml=nvml, proc_root=tmp_path)
    backend.close()
    backend.close()
    assert backend.read() == []
    assert nvml.state().calls.count("nvmlShutdown") == 1


def test_concurrent_reads_are_each_whole(nvml: Any, backend: NvmlBackend) -> None:
    results: list[list[GpuReading]] = []
    threads = [threading.Thread(target=lambda: results.extend(backend.read() for _ in range(20))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and all(len(r) == 2 and set(r[0].values) == f.FAMILY_NAMES for r in results)


def _names_used_by_backend() -> set[str]:
    source = BACKEND_PATH.read_text()
    return set(re.findall(r"\bnvml\.(\w+)", source)) | set(re.findall(r'getattr\(nvml, "(\w+)"', source))


def test_the_fake_copies_what_the_backend_uses_from_real_nvidia_ml_py(nvml: Any) -> None:
    real = _real_pynvml()
    used = _names_used_by_backend()
    assert {"nvmlInit", "nvmlDeviceGetMemoryInfo", "NVML_ERROR_GPU_IS_LOST", "nvmlEventSetWait_v2"} <= used
    for name in sorted(used | {"NVMLError_NotSupported", "NVMLError_GpuIsLost", "NVMLError_Timeout"}):
        assert hasattr(real, name), f"nvidia-ml-py has no {name}"
        assert hasattr(nvml, name), f"the fake has no {name}"
        if isinstance(getattr(real, name), int):
            assert getattr(nvml, name) == getattr(real, name), name
    for code in (real.NVML_ERROR_NOT_SUPPORTED, real.NVML_ERROR_GPU_IS_LOST, real.NVML_ERROR_TIMEOUT):
        assert type(real.NVMLError(code)).__name__ == type(nvml.NVMLError(code)).__name__


def _real_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError:
        pytest.skip("nvidia-ml-py is not installed (pip install -e '.[test]')")
    assert Path(pynvml.__file__).resolve() != FAKE_PATH.resolve()
    return pynvml
