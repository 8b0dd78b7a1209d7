"""Prometheus text rendering compatible with dcgm-exporter, plus the quirks real exporters show.

Label strings are built once per GPU and family, so a scrape only formats numbers. Labels come
in dcgm-exporter's order: gpu, UUID, pci_bus_id, device, modelName, Hostname,
DCGM_FI_DRIVER_VERSION.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gpuwatch_pod.backend import GpuInfo, GpuReading
from gpuwatch_pod.families import (
    BLANK_SENTINEL,
    FAMILIES,
    FAMILY_NAMES,
    PROCESS_MEMORY_FAMILY,
    PROCESS_MEMORY_HELP,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PROCESS_HEADER = (
    f"# HELP {PROCESS_MEMORY_FAMILY} {PROCESS_MEMORY_HELP}\n# TYPE {PROCESS_MEMORY_FAMILY} gauge\n"
)
_PREFIX_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Per-node quirks: the hostname label's spelling, families served as the blank sentinel."""

    hostname_label: str = "Hostname"
    blank_families: frozenset[str] = field(default=frozenset())

    def __post_init__(self) -> None:
        if self.hostname_label not in ("Hostname", "hostname"):
            raise ValueError(f"hostname label must be 'Hostname' or 'hostname', not {self.hostname_label!r}")
        unknown = sorted(self.blank_families - FAMILY_NAMES)
        if unknown:
            raise ValueError(f"unknown families for the blank sentinel: {', '.join(unknown)}")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class _FamilyPlan:
    header: str
    name: str
    fmt: str  # printf format of the value
    blank: str  # when set, served instead of every value (the blank-sentinel quirk)
    prefixes: dict[int, str]  # GPU index -> 'NAME{labels} '


class MetricsRenderer:
    """Renders readings of a fixed set of GPUs. Thread-safe (the cache only ever gains entries)."""

    def __init__(
        self, devices: Sequence[GpuInfo], hostname: str, driver_version: str,
        options: RenderOptions | None = None,
    ) -> None:
        options = options or RenderOptions()
        self._labels = {d.index: self._gpu_labels(d, hostname, driver_version, options) for d in devices}
        self._plans = [
            _FamilyPlan(
                f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.type}\n",
                fam.name,
                "%f" if fam.decimals else "%.0f",
                str(BLANK_SENTINEL) if fam.name in options.blank_families else "",
                {i: f"{fam.name}{{{labels}}} " for i, labels in self._labels.items()},
            )
            for fam in FAMILIES
        ]
        self._process_prefixes: dict[tuple[int, int, str], str] = {}

    @staticmethod
    def _gpu_labels(d: GpuInfo, hostname: str, driver: str, options: RenderOptions) -> str:
        pairs = (
            ("gpu", str(d.index)), ("UUID", d.uuid), ("pci_bus_id", d.pci_bus_id), ("device", d.device),
            ("modelName", d.model), (options.hostname_label, hostname), ("DCGM_FI_DRIVER_VERSION", driver),
        )
        return ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs)

    def render(self, readings: Sequence[GpuReading]) -> bytes:
        parts: list[str] = []
        for plan in self._plans:
            lines = [
                plan.prefixes[r.index] + (plan.blank or plan.fmt % v) + "\n"
                for r in readings
                if (v := r.values.get(plan.name)) is not None
            ]
            if lines:
                parts.append(plan.header)
                parts.extend(lines)
        process_lines = [
            f"{self._process_prefix(r.index, p.pid, p.name)}{p.used_mib:.0f}\n"
            for r in readings
            for p in r.processes
        ]
        if process_lines:
            parts.append(_PROCESS_HEADER)
            parts.extend(process_lines)
        return "".join(parts).encode()

    def _process_prefix(self, index: int, pid: int, name: str) -> str:
        key = (index, pid, name)
        prefix = self._process_prefixes.get(key)
        if prefix is None:
            if len(self._process_prefixes) >= _PREFIX_CACHE_MAX:
                self._process_prefixes.clear()
            labels = f'{self._labels[index]},pid="{pid}",process_name="{escape_label(name)}"'
            prefix = self._process_prefixes[key] = f"{PROCESS_MEMORY_FAMILY}{{{labels}}} "
        return prefix


def garbage(body: bytes) -> bytes:
    """A malformed payload made from a good one: cut mid-line, an unclosed label set, binary junk."""
    half = body[: len(body) // 2]
    half = half[: half.rfind(b"\n") + 1]
    junk = bytes((i * 37 + 11) % 256 for i in range(96))
    cut = body[len(half) : len(half) + 41]
    return half + b'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-\n' + junk + b"\n" + cut
