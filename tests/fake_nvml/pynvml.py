"""A fake of nvidia-ml-py's ``pynvml`` at the library boundary, for machines without an NVIDIA GPU.

Its names, constants, error classes (``NVMLError(NVML_ERROR_NOT_SUPPORTED)`` is an
``NVMLError_NotSupported``, made the way pynvml makes them) and return shapes copy nvidia-ml-py 12/13;
tests/unit/test_nvml_backend.py checks every name the backend uses against the real module.

State comes from ``configure(...)`` in-process, or, for a subprocess (``PYTHONPATH=tests/fake_nvml``),
from the JSON file named by ``FAKE_NVML_CONFIG``, re-read whenever it is replaced, so a test can change
a running exporter's GPUs: ``{"driver_version": ..., "init_error": code, "system_errors": {function:
code}, "process_names": {pid: name}, "xid_events": [[gpu, xid], ...], "gpus": [{FakeGpu fields}]}``.
Per GPU, ``errors`` maps a pynvml function name to the NVML error code it returns ("mismatch" raises
NVMLLibraryMismatchError), and ``lost`` makes every call answer NVML_ERROR_GPU_IS_LOST.
"""

from __future__ import annotations

import json
import os
import string
import threading
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any

MIB = 1024 * 1024

# -- constants, as in pynvml -------------------------------------------------------------------
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_FI_DEV_ECC_SBE_VOL_TOTAL = 3
NVML_FI_DEV_ECC_DBE_VOL_TOTAL = 4
NVML_FI_DEV_MEMORY_TEMP = 82
NVML_VALUE_TYPE_DOUBLE = 0
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_VALUE_TYPE_UNSIGNED_LONG = 2
NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
NVML_VALUE_TYPE_SIGNED_INT = 5
NVML_VALUE_TYPE_UNSIGNED_SHORT = 6
nvmlMemory_v2 = 0x02000028
nvmlEventTypeXidCriticalError = 0x0000000000000008
nvmlClocksEventReasonGpuIdle = 0x0000000000000001
nvmlClocksEventReasonSwPowerCap = 0x0000000000000004
nvmlClocksEventReasonHwSlowdown = 0x0000000000000008
nvmlClocksEventReasonSwThermalSlowdown = 0x0000000000000020
nvmlClocksEventReasonHwThermalSlowdown = 0x0000000000000040
nvmlClocksThrottleReasonGpuIdle = 0x0000000000000001
nvmlClocksThrottleReasonSwPowerCap = 0x0000000000000004


# -- errors, made the way pynvml makes them ----------------------------------------------------
class NVMLLibraryMismatchError(Exception):
    pass


class NVMLError(Exception):
    """``NVMLError(code)`` is an instance of that code's subclass (NVMLError_NotSupported, ...), as in pynvml."""

    _valClassMapping: dict[int, type[NVMLError]] = {}  # noqa: RUF012 - pynvml's own name and shape
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return _ERROR_STRINGS.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


_ERROR_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized", NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions", NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded", NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found", NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


def _make_error_classes() -> None:
    """NVML_ERROR_NOT_SUPPORTED -> class NVMLError_NotSupported(NVMLError), as pynvml names them."""
    module = globals()
    for name in [n for n in module if n.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(name.replace("NVML_ERROR_", ""), "_").replace("_", "")
        code = module[name]

        def new(cls: type[NVMLError], *args: Any, _code: int = code) -> NVMLError:
            return NVMLError.__new__(cls, _code)

        error_class = type(class_name, (NVMLError,), {"__new__": new})
        module[class_name] = error_class
        NVMLError._valClassMapping[code] = error_class


_make_error_classes()


# -- the fake's state --------------------------------------------------------------------------
@dataclass
class FakeGpu:
    uuid: str = "GPU-11111111-2222-3333-4444-555555555555"
    name: str = "NVIDIA H100 80GB HBM3"
    bus_id: str = "00000000:18:00.0"
    minor: int = 0
    util_gpu: int = 0
    util_memory: int = 0
    memory_total: int = 81559 * MIB
    memory_reserved: int = 527 * MIB
    memory_used: int = 0  # excludes reserved, as NVML's v2 call reports it
    temperature: int = 33
    memory_temperature: int | None = 41  # None: the field value answers NOT_SUPPORTED
    power_mw: int = 71234
    power_limit_mw: int = 700000
    energy_mj: int = 12_345_678_901
    sm_mhz: int = 345
    mem_mhz: int = 2619
    pcie_replay: int = 0
    clocks_event_reasons: int = nvmlClocksEventReasonGpuIdle
    ecc_corrected: int = 0
    ecc_uncorrected: int = 0
    remapped_rows: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # corr, unc, pending, failure
    compute_processes: list[list[int | None]] = field(default_factory=list)  # [pid, bytes or None]
    graphics_processes: list[list[int | None]] = field(default_factory=list)
    errors: dict[str, int | str] = field(default_factory=dict)
    lost: bool = False


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    driver_version: str = "550.90.07"
    init_error: int | None = None
    system_errors: dict[str, int] = field(default_factory=dict)
    process_names: dict[str, str] = field(default_factory=dict)  # pid (text) -> name NVML gives
    xid_events: list[list[int]] = field(default_factory=list)  # [gpu, xid], every one posted so far
    # bookkeeping, not configured
    initialized: int = 0
    delivered: int = 0  # xid_events[:delivered] were taken off the queue
    event_sets: dict[int, set[int]] = field(default_factory=dict)  # live set id -> registered GPU indexes
    calls: list[str] = field(default_factory=list)

    def post_xid(self, gpu: int, xid: int) -> None:
        self.xid_events.append([gpu, xid])


_lock = threading.RLock()
_state = FakeNvml()
_source: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of the config file last read


def configure(**config: Any) -> FakeNvml:
    """Replace the fake's state: FakeNvml fields, ``gpus`` as FakeGpu objects or dicts."""
    global _state
    gpus = [g if isinstance(g, FakeGpu) else FakeGpu(**g) for g in config.pop("gpus", [])]
    with _lock:
        _state = FakeNvml(gpus=gpus, **config)
    return _state


def state() -> FakeNvml:
    return _state


def _reload() -> None:
    """Re-read FAKE_NVML_CONFIG when the file was replaced; bookkeeping carries over."""
    global _source
    path = os.environ.get("FAKE_NVML_CONFIG")
    if not path:
        return
    st = os.stat(path)
    ident = (st.st_ino, st.st_mtime_ns, st.st_size)
    if ident == _source:
        return
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    keep = {f.name: getattr(_state, f.name) for f in fields(FakeNvml)
            if f.name in ("initialized", "delivered", "event_sets", "calls")}
    configure(**config, **keep)
    _source = ident


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<c_nvmlDevice_t {self.index}>"


def _raise(code: int | str) -> None:
    if code == "mismatch":
        raise NVMLLibraryMismatchError("Unversioned function called and the pyNVML version does not match")
    raise NVMLError(int(code))


def _call(name: str, handle: _Handle | None = None) -> FakeGpu | None:
    """Book-keeping and failure injection shared by every function; the GPU of ``handle``."""
    _reload()
    _state.calls.append(name)
    if _state.initialized <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    if name in _state.system_errors:
        _raise(_state.system_errors[name])
    if handle is None:
        return None
    if not 0 <= handle.index < len(_state.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    gpu = _state.gpus[handle.index]
    if gpu.lost:
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    if name in gpu.errors:
        _raise(gpu.errors[name])
    return gpu


def _gpu(name: str, handle: _Handle) -> FakeGpu:
    gpu = _call(name, handle)
    assert gpu is not None
    return gpu


# -- the pynvml functions the backend uses ---------------------------------------------------
def nvmlInit() -> None:
    with _lock:
        _reload()
        _state.calls.append("nvmlInit")
        if _state.init_error is not None:
            raise NVMLError(_state.init_error)
        _state.initialized += 1


def nvmlShutdown() -> None:
    with _lock:
        _call("nvmlShutdown")
        _state.initialized -= 1


def nvmlSystemGetDriverVersion() -> str:
    with _lock:
        _call("nvmlSystemGetDriverVersion")
        return _state.driver_version


def nvmlSystemGetProcessName(pid: int) -> str:
    with _lock:
        _call("nvmlSystemGetProcessName")
        name = _state.process_names.get(str(pid))
        if name is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return name


def nvmlDeviceGetCount() -> int:
    with _lock:
        _call("nvmlDeviceGetCount")
        return len(_state.gpus)


def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
    with _lock:
        _gpu("nvmlDeviceGetHandleByIndex", _Handle(index))
        return _Handle(index)


def nvmlDeviceGetUUID(handle: _Handle) -> str:
    with _lock:
        return _gpu("nvmlDeviceGetUUID", handle).uuid


def nvmlDeviceGetName(handle: _Handle) -> str:
    with _lock:
        return _gpu("nvmlDeviceGetName", handle).name


def nvmlDeviceGetPciInfo(handle: _Handle) -> SimpleNamespace:
    with _lock:
        gpu = _gpu("nvmlDeviceGetPciInfo", handle)
        bus = int(gpu.bus_id.split(":")[1], 16)
        return SimpleNamespace(busId=gpu.bus_id, busIdLegacy=gpu.bus_id[4:], domain=0, bus=bus, device=0,
                               pciDeviceId=0x233010DE, pciSubSystemId=0x16C110DE)


def nvmlDeviceGetMinorNumber(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetMinorNumber", handle).minor


def nvmlDeviceGetUtilizationRates(handle: _Handle) -> SimpleNamespace:
    with _lock:
        gpu = _gpu("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=gpu.util_gpu, memory=gpu.util_memory)


def nvmlDeviceGetMemoryInfo(handle: _Handle, version: int | None = None) -> SimpleNamespace:
    with _lock:
        gpu = _gpu("nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo", handle)
        if not version:  # v1: reserved memory counts as used
            used = gpu.memory_used + gpu.memory_reserved
            return SimpleNamespace(total=gpu.memory_total, free=gpu.memory_total - used, used=used)
        if version != nvmlMemory_v2:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        free = gpu.memory_total - gpu.memory_reserved - gpu.memory_used
        return SimpleNamespace(version=version, total=gpu.memory_total, reserved=gpu.memory_reserved,
                               free=free, used=gpu.memory_used)


def nvmlDeviceGetTemperature(handle: _Handle, sensor: int) -> int:
    with _lock:
        gpu = _gpu("nvmlDeviceGetTemperature", handle)
        if sensor != NVML_TEMPERATURE_GPU:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature


def nvmlDeviceGetFieldValues(handle: _Handle, fieldIds: list[int]) -> list[SimpleNamespace]:
    with _lock:
        gpu = _gpu("nvmlDeviceGetFieldValues", handle)
        out = []
        for field_id in fieldIds:
            supported = field_id == NVML_FI_DEV_MEMORY_TEMP and gpu.memory_temperature is not None
            value = SimpleNamespace(dVal=0.0, uiVal=0, ulVal=0, ullVal=0, sllVal=0, siVal=0, usVal=0)
            if supported:
                value.uiVal = gpu.memory_temperature
            out.append(SimpleNamespace(
                fieldId=field_id, scopeId=0, timestamp=0, latencyUsec=0, valueType=NVML_VALUE_TYPE_UNSIGNED_INT,
                nvmlReturn=NVML_SUCCESS if supported else NVML_ERROR_NOT_SUPPORTED, value=value,
            ))
        return out


def nvmlDeviceGetPowerUsage(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetPowerUsage", handle).power_mw


def nvmlDeviceGetPowerManagementLimit(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetPowerManagementLimit", handle).power_limit_mw


def nvmlDeviceGetTotalEnergyConsumption(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetTotalEnergyConsumption", handle).energy_mj


def nvmlDeviceGetClockInfo(handle: _Handle, type: int) -> int:
    with _lock:
        gpu = _gpu("nvmlDeviceGetClockInfo", handle)
        if type not in (NVML_CLOCK_SM, NVML_CLOCK_MEM):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return gpu.sm_mhz if type == NVML_CLOCK_SM else gpu.mem_mhz


def nvmlDeviceGetPcieReplayCounter(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetPcieReplayCounter", handle).pcie_replay


def nvmlDeviceGetCurrentClocksEventReasons(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetCurrentClocksEventReasons", handle).clocks_event_reasons


def nvmlDeviceGetCurrentClocksThrottleReasons(handle: _Handle) -> int:
    with _lock:
        return _gpu("nvmlDeviceGetCurrentClocksThrottleReasons", handle).clocks_event_reasons


def nvmlDeviceGetTotalEccErrors(handle: _Handle, errorType: int, counterType: int) -> int:
    with _lock:
        gpu = _gpu("nvmlDeviceGetTotalEccErrors", handle)
        if counterType != NVML_VOLATILE_ECC:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return gpu.ecc_uncorrected if errorType == NVML_MEMORY_ERROR_TYPE_UNCORRECTED else gpu.ecc_corrected


def nvmlDeviceGetRemappedRows(device: _Handle) -> tuple[int, int, int, int]:
    with _lock:
        corr, unc, pending, failure = _gpu("nvmlDeviceGetRemappedRows", device).remapped_rows
        return (corr, unc, pending, failure)


def _processes(rows: list[list[int | None]]) -> list[SimpleNamespace]:
    return [SimpleNamespace(pid=pid, usedGpuMemory=used, gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF)
            for pid, used in rows]


def nvmlDeviceGetComputeRunningProcesses(handle: _Handle) -> list[SimpleNamespace]:
    with _lock:
        return _processes(_gpu("nvmlDeviceGetComputeRunningProcesses", handle).compute_processes)


def nvmlDeviceGetGraphicsRunningProcesses(handle: _Handle) -> list[SimpleNamespace]:
    with _lock:
        return _processes(_gpu("nvmlDeviceGetGraphicsRunningProcesses", handle).graphics_processes)


def nvmlEventSetCreate() -> int:
    with _lock:
        _call("nvmlEventSetCreate")
        set_id = max(_state.event_sets, default=0) + 1
        _state.event_sets[set_id] = set()
        return set_id


def nvmlDeviceRegisterEvents(handle: _Handle, eventTypes: int, eventSet: int) -> None:
    with _lock:
        _gpu("nvmlDeviceRegisterEvents", handle)
        if eventTypes & nvmlEventTypeXidCriticalError:
            _state.event_sets[eventSet].add(handle.index)


def nvmlEventSetWait_v2(eventSet: int, timeoutms: int) -> SimpleNamespace:
    """The next XID event of a registered GPU; NVMLError_Timeout when there is none (never blocks)."""
    with _lock:
        _call("nvmlEventSetWait_v2")
        registered = _state.event_sets[eventSet]
        while _state.delivered < len(_state.xid_events):
            index, xid = _state.xid_events[_state.delivered]
            _state.delivered += 1
            if index in registered:
                return SimpleNamespace(device=_Handle(index), eventType=nvmlEventTypeXidCriticalError,
                                       eventData=xid, gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF)
        raise NVMLError(NVML_ERROR_TIMEOUT)


def nvmlEventSetWait(eventSet: int, timeoutms: int) -> SimpleNamespace:
    return nvmlEventSetWait_v2(eventSet, timeoutms)


def nvmlEventSetFree(eventSet: int) -> None:
    with _lock:
        _call("nvmlEventSetFree")
        del _state.event_sets[eventSet]
