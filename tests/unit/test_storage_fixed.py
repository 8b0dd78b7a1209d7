"""What a raw row stores for any value: round(value * scale) half to even, NULL when an int64 cannot hold it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.core.metrics import GPU_METRICS
from gpuwatch_desktop.core.snapshot import GpuSnapshot, NodeSnapshot
from gpuwatch_desktop.storage import HistoryStore

T0 = 1_700_000_040
INT64_MAX = 2**63 - 1
values = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.5, 1.5, 2.5, -0.5, -2.5, 12.25, 12.35, 9.2233720368547e18, -9.2233720368547e18, 9.3e17, 2.0**63, -(2.0**63)]
)
metric_values = st.dictionaries(st.sampled_from([m.key for m in GPU_METRICS]), values)


def expected(value: float | None, scale: int) -> int | None:
    if value is None:
        return None
    scaled = value * scale
    return round(scaled) if -INT64_MAX < scaled < INT64_MAX else None


@settings(max_examples=60, deadline=None)
@given(st.lists(metric_values, min_size=1, max_size=4))
def test_raw_rows_hold_each_value_rounded_to_its_scale(
    tmp_path_factory: pytest.TempPathFactory, gpus: list[dict[str, float]]
) -> None:
    path = tmp_path_factory.mktemp("fixed") / "history.sqlite3"
    snapshot = NodeSnapshot("n", "n", T0, tuple(GpuSnapshot(i, f"GPU-{i}", "H100", "", v) for i, v in enumerate(gpus)))
    with HistoryStore(path) as store:
        assert store.write_round([snapshot]) == len(gpus)
        columns = ", ".join(m.key for m in GPU_METRICS)
        rows = store.database.execute_sql(
            f"SELECT {columns} FROM raw JOIN gpu ON gpu.id = raw.gpu_id ORDER BY gpu.idx"
        ).fetchall()
    want = [tuple(expected(v.get(m.key), m.scale) for m in GPU_METRICS) for v in gpus]
    assert rows == want
