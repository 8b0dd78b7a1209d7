"""NVML GPU backend (nvidia-ml-py's ``pynvml``): the pod's real GPUs, read for the exporter.

One failure policy, after nvitop's ``nvmlQuery``: every NVML call goes through ``_query``. A call
the GPU or driver does not support, or any other NVML error, gives no value (that GPU's family is
left out of the scrape) and one log line per GPU and field, never one per scrape. A GPU that
answers NVML_ERROR_GPU_IS_LOST is marked gone and left out of every later reading; the other GPUs
are still served. XID errors arrive as NVML events (``nvmlEventTypeXidCriticalError``), drained
without waiting on every read; the last one per GPU is served (0 until one arrives).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from gpuwatch_pod import families as f
from gpuwatch_pod.backend import GpuInfo, GpuProcessInfo, GpuReading

log = logging.getLogger(__name__)

MIB = 1024 * 1024
SYSTEM = -1  # the "GPU index" of calls that are not about one GPU (driver version, events)
MAX_EVENTS_PER_READ = 1024  # a driver that keeps answering events cannot hold a scrape forever
UNKNOWN_PROCESS = "unknown"
_VALUE_FIELDS = {  # NVML_VALUE_TYPE_* name -> the c_nvmlValue_t member holding it
    "NVML_VALUE_TYPE_DOUBLE": "dVal", "NVML_VALUE_TYPE_UNSIGNED_INT": "uiVal",
    "NVML_VALUE_TYPE_UNSIGNED_LONG": "ulVal", "NVML_VALUE_TYPE_UNSIGNED_LONG_LONG": "ullVal",
    "NVML_VALUE_TYPE_SIGNED_LONG_LONG": "sllVal", "NVML_VALUE_TYPE_SIGNED_INT": "siVal",
    "NVML_VALUE_TYPE_UNSIGNED_SHORT": "usVal",
}

Fields = Callable[[Any], Mapping[str, float]]  # a GPU handle -> dcgm family -> value


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used here (nvidia-ml-py missing, no driver, no GPU); the message says what to do."""


class _GpuLost(Exception):
    """NVML answered NVML_ERROR_GPU_IS_LOST."""


@dataclass(slots=True)
class _Gpu:
    info: GpuInfo
    handle: Any
    xid: float | None = None  # the last XID; None while XID events are not available for this GPU
    gone: bool = False


def load_pynvml() -> ModuleType:
    """The ``pynvml`` module of nvidia-ml-py; NvmlUnavailable when it is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise NvmlUnavailable(
            "the nvml backend needs nvidia-ml-py: pip install 'nvidia-ml-py>=12' (or use --backend sim)"
        ) from exc


class NvmlBackend:
    """The GPUs NVML sees on this machine. Thread-safe; ``close()`` shuts NVML down.

    ``nvml`` is the pynvml module (default: nvidia-ml-py's); ``proc_root`` is where process names
    are looked up when NVML cannot name a process (``<proc_root>/<pid>/comm``).
    """

    def __init__(self, hostname: str, nvml: ModuleType | None = None, proc_root: Path = Path("/proc")) -> None:
        self._nvml = nvml = nvml if nvml is not None else load_pynvml()
        self._hostname = hostname
        self._proc_root = proc_root
        self._lock = threading.Lock()
        self._logged: set[tuple[int, str]] = set()
        self._names: dict[int, str] = {}
        # NVMLLibraryMismatchError: an unversioned call the driver lacks; AttributeError: a function an
        # older nvidia-ml-py lacks. Both mean "no value here", like an NVML error.
        mismatch = getattr(nvml, "NVMLLibraryMismatchError", None)
        self._errors: tuple[type[BaseException], ...] = (
            nvml.NVMLError, AttributeError, *((mismatch,) if isinstance(mismatch, type) else ()),
        )
        self._closed = False
        _start(nvml)
        try:
            self._driver = str(self._query(SYSTEM, "driver version", nvml.nvmlSystemGetDriverVersion) or "")
            self._gpus = self._open_gpus()
            if not self._gpus:
                raise NvmlUnavailable("NVML found no usable GPU on this machine (nvidia-smi -L lists what it sees)")
            self._fields = _field_readers(nvml)
            self._events = self._open_xid_events()
        except BaseException:
            self._query(SYSTEM, "shutdown", nvml.nvmlShutdown)
            raise

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def driver_version(self) -> str:
        return self._driver

    def devices(self) -> list[GpuInfo]:
        return [gpu.info for gpu in self._gpus]

    def read(self) -> list[GpuReading]:
        """One reading per GPU still present; a GPU found lost now is logged once and left out from now on."""
        with self._lock:
            if self._closed:
                return []
            self._drain_xid_events()
            readings: list[GpuReading] = []
            for gpu in self._gpus:
                if gpu.gone:
                    continue
                try:
                    readings.append(self._read_gpu(gpu))
                except _GpuLost:
                    gpu.gone = True
                    log.error("GPU %d (%s) is lost (NVML_ERROR_GPU_IS_LOST): left out of the metrics from now on; "
                              "the other GPUs are still served", gpu.info.index, gpu.info.uuid)
            self._names = {p.pid: p.name for r in readings for p in r.processes}
            return readings

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._events is not None:
                self._query(SYSTEM, "XID events", self._nvml.nvmlEventSetFree, self._events)
            self._query(SYSTEM, "shutdown", self._nvml.nvmlShutdown)

    # -- the one failure policy ----------------------------------------------------------------

    def _query(self, index: int, field: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or None (no value) on an NVML error; raises _GpuLost for a lost GPU."""
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            if getattr(exc, "value", None) == self._nvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLost from exc
            self._log_once(index, field, exc)
            return None

    def _log_once(self, index: int, field: str, exc: BaseException) -> None:
        if (index, field) in self._logged:
            return
        self._logged.add((index, field))
        where = "NVML" if index == SYSTEM else f"GPU {index}"
        if getattr(exc, "value", None) == self._nvml.NVML_ERROR_NOT_SUPPORTED:
            log.info("%s: %s is not supported here; served as no value", where, field)
        else:
            log.warning("%s: %s failed (%s: %s); served as no value while it fails",
                        where, field, type(exc).__name__, exc)

    # -- start ----------------------------------------------------------------------------------

    def _open_gpus(self) -> list[_Gpu]:
        nvml = self._nvml
        gpus: list[_Gpu] = []
        for index in range(int(self._query(SYSTEM, "device count", nvml.nvmlDeviceGetCount) or 0)):
            try:
                gpu = self._open_gpu(index)
            except _GpuLost:
                log.error("GPU %d is lost (NVML_ERROR_GPU_IS_LOST): left out; the other GPUs are served", index)
                continue
            if gpu is not None:
                gpus.append(gpu)
        return gpus

    def _open_gpu(self, index: int) -> _Gpu | None:
        nvml, q = self._nvml, self._query
        handle = q(index, "device handle", nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            log.error("GPU %d cannot be opened: left out; the other GPUs are served", index)
            return None
        pci = q(index, "PCI info", nvml.nvmlDeviceGetPciInfo, handle)
        minor = q(index, "minor number", nvml.nvmlDeviceGetMinorNumber, handle)
        info = GpuInfo(
            index=index,
            uuid=str(q(index, "UUID", nvml.nvmlDeviceGetUUID, handle) or ""),
            model=str(q(index, "name", nvml.nvmlDeviceGetName, handle) or ""),
            pci_bus_id=str(pci.busId) if pci is not None else "",
            device=f"nvidia{minor if minor is not None else index}",
        )
        return _Gpu(info, handle)

    def _open_xid_events(self) -> Any:
        """An event set with every GPU registered for XID errors; None when NVML has no events here."""
        nvml = self._nvml
        events = self._query(SYSTEM, "XID events", nvml.nvmlEventSetCreate)
        if events is None:
            return None
        for gpu in self._gpus:
            try:
                if self._query(gpu.info.index, "XID events", _registered, nvml, gpu.handle, events):
                    gpu.xid = 0.0
            except _GpuLost:
                gpu.gone = True
        return events

    # -- reading --------------------------------------------------------------------------------

    def _read_gpu(self, gpu: _Gpu) -> GpuReading:
        index, handle = gpu.info.index, gpu.handle
        values: dict[str, float] = {}
        for field, read in self._fields:
            got = self._query(index, field, read, handle)
            if got:
                values.update(got)
        if gpu.xid is not None:
            values[f.XID_ERRORS] = gpu.xid
        return GpuReading(index, values, self._processes(gpu))

    def _drain_xid_events(self) -> None:
        nvml, events = self._nvml, self._events
        if events is None:
            return
        wait = getattr(nvml, "nvmlEventSetWait_v2", None) or nvml.nvmlEventSetWait
        for _ in range(MAX_EVENTS_PER_READ):
            try:
                data = wait(events, 0)
            except self._errors as exc:
                if getattr(exc, "value", None) != nvml.NVML_ERROR_TIMEOUT:  # TIMEOUT: no event waiting
                    self._log_once(SYSTEM, "XID events", exc)
                return
            if data.eventType & nvml.nvmlEventTypeXidCriticalError:
                gpu = self._gpu_of(data.device)
                if gpu is not None and gpu.xid is not None:
                    gpu.xid = float(data.eventData)

    def _gpu_of(self, handle: Any) -> _Gpu | None:
        try:
            uuid = self._query(SYSTEM, "XID event's GPU", self._nvml.nvmlDeviceGetUUID, handle)
        except _GpuLost:
            return None
        return next((gpu for gpu in self._gpus if uuid and gpu.info.uuid == uuid), None)

    def _processes(self, gpu: _Gpu) -> tuple[GpuProcessInfo, ...]:
        """Compute and graphics processes, once per PID; a process NVML gives no memory for is left out."""
        nvml, index = self._nvml, gpu.info.index
        used: dict[int, int] = {}
        for field, fn in (("compute processes", nvml.nvmlDeviceGetComputeRunningProcesses),
                          ("graphics processes", nvml.nvmlDeviceGetGraphicsRunningProcesses)):
            for proc in self._query(index, field, fn, gpu.handle) or ():
                if proc.usedGpuMemory is not None:
                    used[int(proc.pid)] = max(used.get(int(proc.pid), 0), int(proc.usedGpuMemory))
        return tuple(
            GpuProcessInfo(pid, self._process_name(pid), float(memory // MIB)) for pid, memory in sorted(used.items())
        )

    def _process_name(self, pid: int) -> str:
        """NVML's name of the process (its basename), else ``/proc/<pid>/comm``, else "unknown"."""
        name = self._names.get(pid)
        if name is None:
            name = self._query(SYSTEM, "process name (else /proc/<pid>/comm)",
                               self._nvml.nvmlSystemGetProcessName, pid) or ""
            name = os.path.basename(str(name).strip()) or _proc_comm(self._proc_root, pid) or UNKNOWN_PROCESS
        return name


def _start(nvml: ModuleType) -> None:
    """nvmlInit(), or NvmlUnavailable saying what is missing."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        advice = {
            nvml.NVML_ERROR_LIBRARY_NOT_FOUND: "the NVML library (libnvidia-ml.so.1) was not found: is the NVIDIA "
            "driver installed, and are the GPUs passed into this container (NVIDIA container toolkit, --gpus all)?",
            nvml.NVML_ERROR_DRIVER_NOT_LOADED: "the NVIDIA driver is not loaded (nvidia-smi must work first)",
            nvml.NVML_ERROR_NO_PERMISSION: "no permission to use NVML (the /dev/nvidia* devices)",
        }.get(getattr(exc, "value", None), f"NVML failed to start: {exc}")
        raise NvmlUnavailable(advice) from exc


def _registered(nvml: ModuleType, handle: Any, events: Any) -> bool:
    nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
    return True


def _proc_comm(proc_root: Path, pid: int) -> str:
    try:
        return (proc_root / str(pid) / "comm").read_text(errors="replace").strip()
    except OSError:
        return ""


def _field_value(nvml: ModuleType, handle: Any, field_id: int) -> float:
    """One NVML field value; its own error code (e.g. NOT_SUPPORTED) raised as that NVMLError."""
    value = nvml.nvmlDeviceGetFieldValues(handle, [field_id])[0]
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        raise nvml.NVMLError(value.nvmlReturn)
    member = next((m for name, m in _VALUE_FIELDS.items() if getattr(nvml, name, None) == value.valueType), None)
    if member is None:
        raise nvml.NVMLError(nvml.NVML_ERROR_UNKNOWN)
    return float(getattr(value.value, member))


def _memory(nvml: ModuleType, handle: Any) -> dict[str, float]:
    """FB used/free/reserved in MiB from nvmlDeviceGetMemoryInfo v2; a driver without v2 gives used/free (v1)."""
    v2 = getattr(nvml, "nvmlMemory_v2", None)
    if v2 is not None:
        try:
            mem = nvml.nvmlDeviceGetMemoryInfo(handle, version=v2)
        except nvml.NVMLError as exc:
            if exc.value == nvml.NVML_ERROR_GPU_IS_LOST:
                raise
        else:
            return {f.FB_USED: mem.used // MIB, f.FB_FREE: mem.free // MIB, f.FB_RESERVED: mem.reserved // MIB}
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    return {f.FB_USED: mem.used // MIB, f.FB_FREE: mem.free // MIB}


def _one(family: str, read: Callable[[Any], float]) -> Fields:
    return lambda handle: {family: float(read(handle))}


def _field_readers(nvml: ModuleType) -> tuple[tuple[str, Fields], ...]:
    """(field name for the log, reader) for every value of a reading except XID, in dcgm units."""
    clock_reasons = (getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                     or nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
    ecc = nvml.nvmlDeviceGetTotalEccErrors

    def utilization(h: Any) -> dict[str, float]:
        rates = nvml.nvmlDeviceGetUtilizationRates(h)
        return {f.GPU_UTIL: rates.gpu, f.MEM_COPY_UTIL: rates.memory}

    def remapped_rows(h: Any) -> dict[str, float]:
        correctable, uncorrectable, _pending, failure = nvml.nvmlDeviceGetRemappedRows(h)
        return {f.CORRECTABLE_REMAPPED_ROWS: correctable, f.UNCORRECTABLE_REMAPPED_ROWS: uncorrectable,
                f.ROW_REMAP_FAILURE: failure}

    return (
        ("utilization", utilization),
        ("memory info", lambda h: _memory(nvml, h)),
        ("GPU temperature", _one(f.GPU_TEMP, lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))),
        ("memory temperature", _one(f.MEMORY_TEMP, lambda h: _field_value(nvml, h, nvml.NVML_FI_DEV_MEMORY_TEMP))),
        ("power usage", _one(f.POWER_USAGE, lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)),
        ("power limit", _one(f.POWER_LIMIT, lambda h: nvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0)),
        ("total energy", _one(f.TOTAL_ENERGY, nvml.nvmlDeviceGetTotalEnergyConsumption)),
        ("SM clock", _one(f.SM_CLOCK, lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))),
        ("memory clock", _one(f.MEM_CLOCK, lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM))),
        ("PCIe replay counter", _one(f.PCIE_REPLAY, nvml.nvmlDeviceGetPcieReplayCounter)),
        ("clock throttle reasons", _one(f.THROTTLE_REASONS, clock_reasons)),
        ("double-bit ECC errors", _one(f.ECC_DBE, lambda h: ecc(
            h, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC))),
        ("single-bit ECC errors", _one(f.ECC_SBE, lambda h: ecc(
            h, nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_VOLATILE_ECC))),
        ("remapped rows", remapped_rows),
    )
