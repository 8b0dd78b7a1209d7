"""The metric families the GPU exporter serves, declared once.

Names, types, help text and units follow NVIDIA dcgm-exporter (FB in MiB, power W, temperature °C,
clocks MHz, energy mJ). The pod keeps its own list: it never imports the desktop app.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
MEM_COPY_UTIL = "DCGM_FI_DEV_MEM_COPY_UTIL"
FB_USED = "DCGM_FI_DEV_FB_USED"
FB_FREE = "DCGM_FI_DEV_FB_FREE"
FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"
GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"
MEMORY_TEMP = "DCGM_FI_DEV_MEMORY_TEMP"
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"
POWER_LIMIT = "DCGM_FI_DEV_POWER_MGMT_LIMIT"
TOTAL_ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
SM_CLOCK = "DCGM_FI_DEV_SM_CLOCK"
MEM_CLOCK = "DCGM_FI_DEV_MEM_CLOCK"
XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"
PCIE_REPLAY = "DCGM_FI_DEV_PCIE_REPLAY_COUNTER"
THROTTLE_REASONS = "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"
ECC_DBE = "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"
ECC_SBE = "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"
CORRECTABLE_REMAPPED_ROWS = "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS"
UNCORRECTABLE_REMAPPED_ROWS = "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS"
ROW_REMAP_FAILURE = "DCGM_FI_DEV_ROW_REMAP_FAILURE"

# Extra family (not dcgm-exporter): GPU memory per process, labelled with pid and process_name.
PROCESS_MEMORY_FAMILY = "gpuwatch_gpu_process_memory_used_mib"
PROCESS_MEMORY_HELP = "GPU memory used by one process (in MiB)."

# dcgm-exporter prints DCGM_INT64_NOT_SUPPORTED for a field the GPU does not support.
BLANK_SENTINEL = 9223372036854775794

# Clock throttle reason bits (NVML nvmlClocksThrottleReason*).
THROTTLE_GPU_IDLE = 0x1
THROTTLE_SW_POWER_CAP = 0x4
THROTTLE_HW_SLOWDOWN = 0x8
THROTTLE_SW_THERMAL = 0x20
THROTTLE_HW_THERMAL = 0x40


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: str  # "gauge" or "counter"
    help: str
    decimals: bool = False  # printed like dcgm-exporter prints doubles ("%f"), else as an integer


FAMILIES: tuple[Family, ...] = (
    Family(GPU_UTIL, "gauge", "GPU utilization (in %)."),
    Family(MEM_COPY_UTIL, "gauge", "Memory utilization (in %)."),
    Family(FB_USED, "gauge", "Framebuffer memory used (in MiB)."),
    Family(FB_FREE, "gauge", "Framebuffer memory free (in MiB)."),
    Family(FB_RESERVED, "gauge", "Framebuffer memory reserved (in MiB)."),
    Family(GPU_TEMP, "gauge", "GPU temperature (in C)."),
    Family(MEMORY_TEMP, "gauge", "Memory temperature (in C)."),
    Family(POWER_USAGE, "gauge", "Power draw (in W).", decimals=True),
    Family(POWER_LIMIT, "gauge", "Current power limit for the device (in W).", decimals=True),
    Family(TOTAL_ENERGY, "counter", "Total energy consumption since boot (in mJ)."),
    Family(SM_CLOCK, "gauge", "SM clock frequency (in MHz)."),
    Family(MEM_CLOCK, "gauge", "Memory clock frequency (in MHz)."),
    Family(XID_ERRORS, "gauge", "Value of the last XID error encountered."),
    Family(PCIE_REPLAY, "counter", "Total number of PCIe retries."),
    Family(THROTTLE_REASONS, "gauge", "Current clock throttle reasons."),
    Family(ECC_DBE, "counter", "Total number of double-bit volatile ECC errors."),
    Family(ECC_SBE, "counter", "Total number of single-bit volatile ECC errors."),
    # dcgm-exporter's help texts for the remapped-row families have no final full stop.
    Family(CORRECTABLE_REMAPPED_ROWS, "counter", "Number of remapped rows for correctable errors"),
    Family(UNCORRECTABLE_REMAPPED_ROWS, "counter", "Number of remapped rows for uncorrectable errors"),
    Family(ROW_REMAP_FAILURE, "gauge", "Whether remapping of rows has failed"),
)

FAMILY_NAMES: frozenset[str] = frozenset(f.name for f in FAMILIES)
