"""dcgm-exporter adapter: one parsed payload of one node becomes a ``NodeSnapshot``.

Handles the quirks of real exporters: ``Hostname`` or ``hostname``, older family names
(``DCGM_FI_DEV_CLOCK_THROTTLE_REASONS``), families missing from the payload, and DCGM's blank
sentinel values, which mean "no value" and are dropped (the metric key is left out).
``DcgmReader`` reads one node's successive payloads, patching the last snapshot when only values changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

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
from gpuwatch_desktop.sources.promtext import CACHE_MIN, ParsedPayload, PromTextParser, plain_float

# DCGM blank values, from dcgm_structs.h ("DCGM_BLANK_VALUES"; NVIDIA DCGM, dcgmlib/dcgm_structs.h):
#   DCGM_INT32_BLANK 0x7ffffff0 (2147483632), DCGM_INT64_BLANK 0x7ffffffffffffff0 (9223372036854775792),
#   DCGM_FP64_BLANK 140737488355328.0 (2**47). The error codes follow each base: *_NOT_FOUND = base + 1,
#   *_NOT_SUPPORTED = base + 2 (9223372036854775794 is DCGM_INT64_NOT_SUPPORTED), *_NOT_PERMISSIONED
#   = base + 3, up to base + 15 ("each value from 0-15"). dcgm-exporter prints them as plain numbers.
INT64_BLANK = 9223372036854775792
INT32_BLANK = 2147483632
INT32_BLANK_LAST = 2147483647
FP64_BLANK = 140737488355328.0
_NOWHERE = (-1, "")
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
    origin: dict[tuple[int, str], int] = field(default_factory=dict)  # (GPU, key) -> sample giving its value
    process_origin: list[int] = field(default_factory=list)  # per process: the sample it came from

    def add_samples(self, samples: list[Sample]) -> None:
        """Every GPU metric and process sample; the per-sample work is inlined (it runs ~10^4 times a round)."""
        families = _FAMILIES
        seen, by_label, origin = self.seen, self.by_label, self.origin
        for position, sample in enumerate(samples):
            family = families.get(sample.name)
            if family is None:
                if sample.name == PROCESS_MEMORY_FAMILY:
                    self.add_process(sample, position)
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
                origin[gpu.index, family.key] = position

    def add_process(self, sample: Sample, position: int) -> None:
        gpu = self._gpu(sample)
        if gpu is None or is_blank(sample.value):
            return
        pid = sample.labels.get(PROCESS_PID_LABEL, "")
        if not (pid.isascii() and pid.isdigit()):
            self.problems.append(f"{sample.name}: bad {PROCESS_PID_LABEL} label {pid!r}, sample skipped")
            return
        name = sample.labels.get(PROCESS_NAME_LABEL, "")
        self.processes.append(GpuProcess(gpu.index, int(pid), name, sample.value))
        self.process_origin.append(position)

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
    return _build(node, payload.samples, time)[0]


def _build(node: str, samples: list[Sample], time: float) -> tuple[NodeSnapshot, _Builder, list[int]]:
    """The snapshot, its builder and the order of its processes (indexes into ``builder.processes``)."""
    builder = _Builder()
    builder.add_samples(samples)
    if not builder.seen:
        raise ParseError(0, "no DCGM GPU metrics in payload")
    if not builder.gpus:
        raise ParseError(0, "no DCGM GPU metrics with a gpu label in payload")
    gpus = tuple(_gpu_snapshot(builder.gpus[i]) for i in sorted(builder.gpus))
    found = builder.processes
    order = sorted(range(len(found)), key=lambda k: (found[k].gpu_index, found[k].pid))
    snapshot = NodeSnapshot(
        node=node,
        hostname=builder.hostname,
        time=time,
        gpus=gpus,
        processes=tuple(found[k] for k in order),
        warnings=builder.warnings(),
        notes=builder.notes(),
        sample_count=len(samples),
    )
    return snapshot, builder, order


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


class _Line(NamedTuple):
    """What a sample line of the last payload gave, for a later payload where only its value changed."""

    head: str  # the line up to its last blank: the complete series
    watched: bool  # a GPU metric or process sample: its value (or blankness) shows in the snapshot
    counter: bool
    blank: bool  # its value was a blank sentinel
    gpu: int  # position in the snapshot's gpus whose value it gives (-1: none)
    key: str  # that value's metric key
    process: int  # position in the snapshot's processes whose memory it gives (-1: none)


@dataclass(slots=True)
class _Plan:
    lines: list[str]  # the last payload's lines
    actions: list[_Line | None]  # per line; None: a line that must stay as it was (comments, HELP, TYPE)
    snapshot: NodeSnapshot  # what the last payload gave


class DcgmReader:
    """One node's successive payloads to snapshots, doing work only for the lines that changed.

    A dcgm-exporter writes the same series in the same order every scrape and only some values
    change. When a payload has the last one's line count and every changed line is a sample line
    whose series is unchanged, with a plain decimal value whose blankness is unchanged, the last
    snapshot is patched with the new values. Anything else takes the full path (parser + grouping),
    which also reports bad input; both give the same snapshot for the same text.
    """

    __slots__ = ("_parser", "_plan", "_values")

    def __init__(self) -> None:
        self._parser = PromTextParser()
        self._plan: _Plan | None = None
        self._values: dict[str, float] = {}  # value text -> float, bounded

    def read(self, node: str, text: str, time: float) -> NodeSnapshot:
        """The snapshot of one payload of ``node``; raises ParseError on bad input."""
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        plan = self._plan
        if plan is not None and len(lines) == len(plan.lines):
            snapshot = self._patched(plan, lines, node, time)
            if snapshot is not None:
                plan.lines, plan.snapshot = lines, snapshot
                return snapshot
        payload = self._parser.parse(text)
        snapshot, builder, order = _build(node, payload.samples, time)
        self._plan = _plan(self._parser.last_lines(), payload.samples, snapshot, builder, order)
        return snapshot

    def _patched(self, plan: _Plan, lines: list[str], node: str, time: float) -> NodeSnapshot | None:
        """The last snapshot with this payload's changed values; None when the full path is needed."""
        if len(self._values) > CACHE_MIN:
            self._values.clear()
        values, actions = self._values, plan.actions
        gpu_values: dict[int, dict[str, float]] = {}
        memory: dict[int, float] = {}
        changed = [i for i, (line, before) in enumerate(zip(lines, plan.lines, strict=True)) if line != before]
        for i in changed:
            action = actions[i]
            head, _, token = lines[i].rpartition(" ")
            if action is None or head != action.head:
                return None
            value = values.get(token)
            if value is None:
                value = plain_float(token)
                if value is None:
                    return None  # not a plain value: the full path parses it or says what is wrong
                values[token] = value
            if not action.watched:
                continue
            if (not value < INT32_BLANK and is_blank(value, action.counter)) != action.blank:
                return None
            if action.gpu >= 0:
                gpu_values.setdefault(action.gpu, {})[action.key] = value
            elif action.process >= 0:
                memory[action.process] = value
        last = plan.snapshot
        return NodeSnapshot(
            node, last.hostname, time, _patch_gpus(last.gpus, gpu_values), _patch_processes(last.processes, memory),
            last.warnings, last.notes, last.sample_count,
        )


def _patch_gpus(gpus: tuple[GpuSnapshot, ...], changes: dict[int, dict[str, float]]) -> tuple[GpuSnapshot, ...]:
    if not changes:
        return gpus
    patched = list(gpus)
    for position, values in changes.items():
        gpu = gpus[position]
        patched[position] = GpuSnapshot(gpu.index, gpu.uuid, gpu.model, gpu.pci_bus_id, {**gpu.values, **values})
    return tuple(patched)


def _patch_processes(processes: tuple[GpuProcess, ...], memory: dict[int, float]) -> tuple[GpuProcess, ...]:
    if not memory:
        return processes
    patched = list(processes)
    for position, used in memory.items():
        process = processes[position]
        patched[position] = GpuProcess(process.gpu_index, process.pid, process.name, used)
    return tuple(patched)


def _plan(
    last: tuple[list[str], list[Sample | None]], samples: list[Sample], snapshot: NodeSnapshot,
    builder: _Builder, order: list[int],
) -> _Plan | None:
    """Where each line's value goes in ``snapshot``; None unless every sample came from a plain known-series line."""
    lines, by_line = last
    sample_lines = [i for i, sample in enumerate(by_line) if sample is not None]
    if len(sample_lines) != len(samples):
        return None
    if any(by_line[i] is not s for i, s in zip(sample_lines, samples, strict=True)):
        return None
    position = {gpu.index: p for p, gpu in enumerate(snapshot.gpus)}
    gives = {j: (position[index], key) for (index, key), j in builder.origin.items()}
    process_of = {builder.process_origin[k]: p for p, k in enumerate(order)}
    actions: list[_Line | None] = [None] * len(lines)
    for j, (i, sample) in enumerate(zip(sample_lines, samples, strict=True)):
        family, value = _FAMILIES.get(sample.name), sample.value
        counter = family is not None and family.counter
        gpu, key = gives.get(j, _NOWHERE)
        actions[i] = _Line(
            lines[i].rpartition(" ")[0], family is not None or sample.name == PROCESS_MEMORY_FAMILY, counter,
            not value < INT32_BLANK and is_blank(value, counter), gpu, key, process_of.get(j, -1),
        )
    return _Plan(lines, actions, snapshot)
