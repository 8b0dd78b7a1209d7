"""dcgm-exporter adapter: one parsed payload of one node becomes a ``NodeSnapshot``.

Handles the quirks of real exporters: ``Hostname`` or ``hostname``, older family names
(``DCGM_FI_DEV_CLOCK_THROTTLE_REASONS``), families missing from the payload, and DCGM's blank
sentinel values, which mean "no value" and are dropped (the metric key is left out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gpuwatch_desktop.core.errors import ParseError
from gpuwatch_desktop.core.metrics import (
    GPU_METRICS,
    METRICS_BY_DCGM_NAME,
    PROCESS_MEMORY_FAMILY,
    PROCESS_NAME_LABEL,
    PROCESS_PID_LABEL,
    MetricKind,
)
from gpuwatch_desktop.core.snapshot import GpuProcess, GpuSnapshot, NodeSnapshot, Sample
from gpuwatch_desktop.sources.promtext import ParsedPayload, PromTextParser

# DCGM blank values, from dcgm_structs.h ("DCGM_BLANK_VALUES"; NVIDIA DCGM, dcgmlib/dcgm_structs.h):
#   DCGM_INT32_BLANK 0x7ffffff0 (2147483632), DCGM_INT64_BLANK 0x7ffffffffffffff0 (9223372036854775792),
#   DCGM_FP64_BLANK 140737488355328.0 (2**47). The error codes follow each base: *_NOT_FOUND = base + 1,
#   *_NOT_SUPPORTED = base + 2 (9223372036854775794 is DCGM_INT64_NOT_SUPPORTED), *_NOT_PERMISSIONED
#   = base + 3, up to base + 15 ("each value from 0-15"). dcgm-exporter prints them as plain numbers.
INT64_BLANK = 9223372036854775792
INT32_BLANK = 2147483632
INT32_BLANK_LAST = 2147483647
FP64_BLANK = 140737488355328.0
_INT64_BLANK_F = float(INT64_BLANK)  # 2**63: every INT64 blank rounds to it as a float

# Metrics a dcgm-exporter serves with its default counters: their absence is worth a warning.
EXPECTED_KEYS = ("gpu_util", "fb_used", "fb_free", "gpu_temp", "power", "sm_clock")


@dataclass(frozen=True, slots=True)
class _Family:
    key: str
    counter: bool  # counters are int64 fields in DCGM: only the INT64 blanks apply to them
    preferred: bool  # the newest name of the metric; an older name never overrides it


_FAMILIES: dict[str, _Family] = {
    name: _Family(spec.key, spec.kind is MetricKind.COUNTER, name == spec.dcgm_name)
    for name, spec in METRICS_BY_DCGM_NAME.items()
}


def is_blank(value: float, counter: bool = False) -> bool:
    """True for NaN and DCGM blank sentinels (for gauges also the INT32 and FP64 blanks)."""
    if value != value or value >= _INT64_BLANK_F:
        return True
    return not counter and (value >= FP64_BLANK or INT32_BLANK <= value <= INT32_BLANK_LAST)


@dataclass(slots=True)
class _Gpu:
    index: int
    labels: Mapping[str, str]  # of its first sample: UUID, modelName, pci_bus_id
    values: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Builder:
    """Accumulates one payload's samples per GPU."""

    gpus: dict[int, _Gpu] = field(default_factory=dict)
    processes: list[GpuProcess] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # metric keys with at least one sample
    blanks: dict[str, list[int]] = field(default_factory=dict)  # family -> GPU indexes
    unlabelled: dict[str, int] = field(default_factory=dict)  # family -> samples without a gpu label
    problems: list[str] = field(default_factory=list)
    hostname: str = ""
    by_label: dict[str | None, _Gpu] = field(default_factory=dict)  # gpu label text -> its GPU

    def add_samples(self, samples: list[Sample]) -> None:
        """Every GPU metric and process sample; the per-sample work is inlined (it runs ~10^4 times a round)."""
        families = _FAMILIES
        seen, by_label = self.seen, self.by_label
        for sample in samples:
            family = families.get(sample.name)
            if family is None:
                if sample.name == PROCESS_MEMORY_FAMILY:
                    self.add_process(sample)
                continue
            seen.add(family.key)
            gpu = by_label.get(sample.labels.get("gpu")) or self._gpu(sample)
            if gpu is None:
                continue
            value = sample.value
            # Below the smallest blank sentinel (and not NaN) a value is never blank: skip the full check.
            if not value < INT32_BLANK and is_blank(value, family.counter):
                self.blanks.setdefault(sample.name, []).append(gpu.index)
            elif family.preferred or family.key not in gpu.values:
                gpu.values[family.key] = value

    def add_process(self, sample: Sample) -> None:
        gpu = self._gpu(sample)
        if gpu is None or is_blank(sample.value):
            return
        pid = sample.labels.get(PROCESS_PID_LABEL, "")
        if not (pid.isascii() and pid.isdigit()):
            self.problems.append(f"{sample.name}: bad {PROCESS_PID_LABEL} label {pid!r}, sample skipped")
            return
        name = sample.labels.get(PROCESS_NAME_LABEL, "")
        self.processes.append(GpuProcess(gpu.index, int(pid), name, sample.value))

    def _gpu(self, sample: Sample) -> _Gpu | None:
        text = sample.labels.get("gpu")
        if text is None:
            self.unlabelled[sample.name] = self.unlabelled.get(sample.name, 0) + 1
            return None
        if not (text.isascii() and text.isdigit()):
            self.problems.append(f"{sample.name}: bad gpu label {text!r}, sample skipped")
            return None
        index = int(text)
        gpu = self.gpus.get(index)
        if gpu is None:
            gpu = self.gpus[index] = _Gpu(index, sample.labels)
            if not self.hostname:
                self.hostname = sample.labels.get("Hostname") or sample.labels.get("hostname") or ""
        self.by_label[text] = gpu
        return gpu

    def warnings(self) -> tuple[str, ...]:
        found = [
            f"{spec.label}: no data ({spec.dcgm_name} missing from payload)"
            for spec in GPU_METRICS
            if spec.key in EXPECTED_KEYS and spec.key not in self.seen
        ]
        found += [f"{name}: {n} sample(s) without a gpu label skipped" for name, n in self.unlabelled.items()]
        return tuple(found + self.problems)

    def notes(self) -> tuple[str, ...]:
        """Blank values are how DCGM says "not supported here": worth showing, not a fault."""
        return tuple(
            f"{name}: not supported (DCGM blank value) on GPU {', '.join(map(str, sorted(set(indexes))))}"
            for name, indexes in self.blanks.items()
        )


def snapshot_from_payload(node: str, payload: ParsedPayload, time: float) -> NodeSnapshot:
    """Group a dcgm-exporter payload by GPU; raises ParseError if it has no GPU metric at all."""
    builder = _Builder()
    builder.add_samples(payload.samples)
    if not builder.seen:
        raise ParseError(0, "no DCGM GPU metrics in payload")
    if not builder.gpus:
        raise ParseError(0, "no DCGM GPU metrics with a gpu label in payload")
    gpus = tuple(_gpu_snapshot(builder.gpus[i]) for i in sorted(builder.gpus))
    processes = tuple(sorted(builder.processes, key=lambda p: (p.gpu_index, p.pid)))
    return NodeSnapshot(
        node=node,
        hostname=builder.hostname,
        time=time,
        gpus=gpus,
        processes=processes,
        warnings=builder.warnings(),
        notes=builder.notes(),
        sample_count=len(payload.samples),
    )


def _gpu_snapshot(gpu: _Gpu) -> GpuSnapshot:
    labels = gpu.labels
    return GpuSnapshot(
        index=gpu.index,
        uuid=labels.get("UUID", ""),
        model=labels.get("modelName", ""),
        pci_bus_id=labels.get("pci_bus_id", ""),
        values=gpu.values,
    )


def parse_node_payload(parser: PromTextParser, node: str, text: str, time: float) -> NodeSnapshot:
    """Parse one scrape of ``node`` with its own parser; raises ParseError on bad input."""
    return snapshot_from_payload(node, parser.parse(text), time)
