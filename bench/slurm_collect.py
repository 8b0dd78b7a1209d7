"""Cost of one Slurm collection against a real one-node Slurm (munged, slurmctld, slurmd on localhost).

Starts the test suite's local Slurm (needs root and Debian's slurm-wlm + munge), submits its standard
jobs, then times ``SlurmCommands.collect()`` in JSON and text mode. Baseline: the exporter's default
``--min-interval`` of 10 s, the most often it ever asks slurmctld. The last line is
``slurm collect ms: json N text N (N.N % of the 10 s interval)``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpuwatch_pod.slurm_collect import SlurmCommands
from tests.integration.slurm_cluster import missing_binaries, running_slurm

RUNS = 15
INTERVAL_S = 10.0


def median_ms(commands: SlurmCommands) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        snapshot = commands.collect()
        times.append((time.perf_counter() - started) * 1000)
        if not snapshot.ok:
            raise SystemExit(f"collection failed: {snapshot.error}")
    return statistics.median(times)


def main() -> None:
    if missing_binaries():
        raise SystemExit(f"needs {', '.join(missing_binaries())} (apt-get install slurm-wlm munge), as root")
    with running_slurm() as cluster:
        env = {"SLURM_CONF": str(cluster.conf)}
        as_json = median_ms(SlurmCommands(timeout_s=20, mode="json", env=env))
        as_text = median_ms(SlurmCommands(timeout_s=20, mode="text", env=env))
    share = max(as_json, as_text) / (INTERVAL_S * 1000) * 100
    print(f"slurm collect ms: json {as_json:.0f} text {as_text:.0f} ({share:.1f} % of the 10 s interval)")


if __name__ == "__main__":
    main()
