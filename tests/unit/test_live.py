from __future__ import annotations

import numpy as np

from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.services.live import LiveHistory


def _snapshot(t: float, util: float | None) -> NodeSnapshot:
    values = {} if util is None else {"gpu_util": util}
    return NodeSnapshot("n", "h", t, (GpuSnapshot(0, "GPU-0", "H100", "0:0", values),))


def test_ring_keeps_the_latest_values_in_time_order() -> None:
    live = LiveHistory(capacity=4)
    for t in range(10):
        live.add(_snapshot(float(t), float(t * 10)))
    ts, values = live.series("n", 0, "gpu_util")
    assert ts.tolist() == [6.0, 7.0, 8.0, 9.0]
    assert values.tolist() == [60.0, 70.0, 80.0, 90.0]


def test_missing_values_are_nan_and_repeated_snapshots_are_ignored() -> None:
    live = LiveHistory(capacity=8)
    live.add(_snapshot(1.0, 5.0))
    live.add(_snapshot(1.0, 5.0))  # the same snapshot published twice (status change only)
    live.add(_snapshot(2.0, None))
    ts, values = live.series("n", 0, "gpu_util", since=0.0)
    assert ts.tolist() == [1.0, 2.0]
    assert values[0] == 5.0 and np.isnan(values[1])


def test_forget_drops_a_node() -> None:
    live = LiveHistory()
    live.add(_snapshot(1.0, 5.0))
    live.forget("n")
    assert live.series("n", 0, "gpu_util")[0].size == 0
