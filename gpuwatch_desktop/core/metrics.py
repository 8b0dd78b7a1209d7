"""The one metric registry: every GPU metric the app knows, declared once.

Tables, charts, storage columns, the alert editor and the agent's tool schemas all derive
from ``GPU_METRICS``. ``dcgm_names`` lists the dcgm-exporter family names that carry the
metric (newer names first); ``scale`` is the fixed-point factor used when storing it
(value * scale is rounded to an integer, so 10 keeps one decimal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class MetricKind(Enum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str
    label: str
    unit: str
    dcgm_names: tuple[str, ...]
    kind: MetricKind = MetricKind.GAUGE
    scale: int = 1
    warn: float | None = None
    crit: float | None = None
    charted: bool = False

    @property
    def dcgm_name(self) -> str:
        return self.dcgm_names[0]

    def level(self, value: float | None) -> str:
        """'ok', 'warn' or 'crit' against this metric's thresholds ('none' without a value)."""
        if value is None:
            return "none"
        if self.crit is not None and value >= self.crit:
            return "crit"
        if self.warn is not None and value >= self.warn:
            return "warn"
        return "ok"


def _spec(key: str, label: str, unit: str, *names: str, **extra: object) -> MetricSpec:
    return MetricSpec(key, label, unit, tuple(names), **extra)  # type: ignore[arg-type]


GPU_METRICS: tuple[MetricSpec, ...] = (
    _spec("gpu_util", "GPU utilisation", "%", "DCGM_FI_DEV_GPU_UTIL", charted=True),
    _spec("mem_copy_util", "Memory bandwidth utilisation", "%", "DCGM_FI_DEV_MEM_COPY_UTIL"),
    _spec("fb_used", "Memory used", "MiB", "DCGM_FI_DEV_FB_USED", charted=True),
    _spec("fb_free", "Memory free", "MiB", "DCGM_FI_DEV_FB_FREE"),
    _spec("fb_reserved", "Memory reserved", "MiB", "DCGM_FI_DEV_FB_RESERVED"),
    _spec("gpu_temp", "GPU temperature", "°C", "DCGM_FI_DEV_GPU_TEMP", warn=80.0, crit=87.0, charted=True),
    _spec("mem_temp", "Memory temperature", "°C", "DCGM_FI_DEV_MEMORY_TEMP", warn=85.0, crit=95.0),
    _spec("power", "Power draw", "W", "DCGM_FI_DEV_POWER_USAGE", scale=10, charted=True),
    _spec("power_limit", "Power limit", "W", "DCGM_FI_DEV_POWER_MGMT_LIMIT", scale=10),
    _spec(
        "energy", "Energy since boot", "mJ", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", kind=MetricKind.COUNTER
    ),
    _spec("sm_clock", "SM clock", "MHz", "DCGM_FI_DEV_SM_CLOCK", charted=True),
    _spec("mem_clock", "Memory clock", "MHz", "DCGM_FI_DEV_MEM_CLOCK"),
    _spec("xid", "Last XID error", "", "DCGM_FI_DEV_XID_ERRORS", warn=1.0),
    _spec(
        "pcie_replay", "PCIe replays", "", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", kind=MetricKind.COUNTER
    ),
    _spec(
        "throttle_reasons", "Clock throttle reasons", "bitmask",
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
    ),
    _spec(
        "ecc_dbe", "ECC double-bit errors", "", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        kind=MetricKind.COUNTER, warn=1.0,
    ),
    _spec("ecc_sbe", "ECC single-bit errors", "", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", kind=MetricKind.COUNTER),
    _spec("remapped_rows_corr", "Rows remapped (correctable)", "", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
          kind=MetricKind.COUNTER),
    _spec("remapped_rows_uncorr", "Rows remapped (uncorrectable)", "", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
          kind=MetricKind.COUNTER, warn=1.0),
    _spec("row_remap_failure", "Row remapping failed", "", "DCGM_FI_DEV_ROW_REMAP_FAILURE", crit=1.0),
)

METRICS_BY_KEY: dict[str, MetricSpec] = {m.key: m for m in GPU_METRICS}

# Metrics the alert engine computes from the scraped ones above; never scraped or stored.
# fb_used_pct = 100 * fb_used / (fb_used + fb_free): memory share, comparable across GPU sizes.
# power_capped = 100 while throttle_reasons has a power bit (0x4 software power cap, 0x80 hardware
# power brake), else 0: its mean over a window is the share of that time the GPU was power-capped.
DERIVED_METRICS: tuple[MetricSpec, ...] = (
    _spec("fb_used_pct", "Memory used share", "%", warn=90.0, crit=97.0),
    _spec("power_capped", "Power-capped share", "%"),
)
DERIVED_INPUTS: dict[str, tuple[str, ...]] = {
    "fb_used_pct": ("fb_used", "fb_free"), "power_capped": ("throttle_reasons",),
}
# Every metric an alert rule may watch: the registry plus the derived ones.
ALERT_METRICS_BY_KEY: dict[str, MetricSpec] = {**METRICS_BY_KEY, **{m.key: m for m in DERIVED_METRICS}}
METRICS_BY_DCGM_NAME: dict[str, MetricSpec] = {n: m for m in GPU_METRICS for n in m.dcgm_names}
CHARTED_METRICS: tuple[MetricSpec, ...] = tuple(m for m in GPU_METRICS if m.charted)

# Extra family the pod exporter serves for per-process GPU memory (not part of dcgm-exporter).
PROCESS_MEMORY_FAMILY = "gpuwatch_gpu_process_memory_used_mib"
# Labels of that family besides the GPU's own: pid and process name.
PROCESS_PID_LABEL = "pid"
PROCESS_NAME_LABEL = "process_name"


def metric(key: str) -> MetricSpec:
    try:
        return METRICS_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; known: {', '.join(METRICS_BY_KEY)}") from None
