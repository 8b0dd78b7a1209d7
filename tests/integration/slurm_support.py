"""The pod Slurm exporter on loopback for the desktop's tests: a source that can be made to fail like sinfo/squeue."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

from gpuwatch_pod.slurm_exporter import SlurmExporter
from gpuwatch_pod.slurm_model import SlurmSnapshot
from gpuwatch_pod.slurm_sim import SimSlurm

T0 = 1_750_000_000.0


class BreakableSlurm:
    """A pod ``SlurmSource``: the simulation until ``failure`` is set, then what ``SlurmCommands`` gives when a
    command fails (the last good lists, with the error and their old collection time)."""

    def __init__(self, sim: SimSlurm) -> None:
        self.sim = sim
        self.failure: str | None = None
        self.last: SlurmSnapshot | None = None

    def collect(self) -> SlurmSnapshot:
        if self.failure is None:
            self.last = self.sim.collect()
            return self.last
        if self.last is None:
            return SlurmSnapshot(T0, error=self.failure, has_data=False)
        return replace(self.last, error=self.failure)


@contextlib.contextmanager
def serving(source: object, token: str | None = None) -> Iterator[SlurmExporter]:
    exporter = SlurmExporter(source, port=0, token=token, min_interval_s=0).start()  # type: ignore[arg-type]
    try:
        yield exporter
    finally:
        exporter.close()
