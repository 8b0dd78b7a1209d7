"""What the chart draws after repeated live refreshes and after switching between history and live."""

from __future__ import annotations

import numpy as np
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.ui.charts import CurveData, MetricCharts
from gpuwatch_desktop.ui.theme import DARK


def _drawn(charts: MetricCharts, key: str) -> list[tuple[list[float], list[float]]]:
    item = charts.plots[key].item
    out = []
    for data_item in item.listDataItems():
        xs, ys = data_item.getData()
        out.append(([] if xs is None else list(xs), [] if ys is None else list(ys)))
    return out


def _live(names: list[str], ts: list[float], values: list[float]) -> list[CurveData]:
    return [CurveData(n, np.array(ts), np.array(values) + i) for i, n in enumerate(names)]


def test_a_second_live_refresh_draws_the_new_points(qtbot: QtBot) -> None:
    charts = MetricCharts(DARK)
    qtbot.addWidget(charts)
    charts.set_curves("gpu_util", _live(["GPU 0", "GPU 1"], [1.0, 2.0], [10.0, 20.0]))
    charts.set_curves("gpu_util", _live(["GPU 0", "GPU 1"], [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]))
    assert _drawn(charts, "gpu_util") == [([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]), ([1.0, 2.0, 3.0], [11.0, 21.0, 31.0])]
    assert len(charts.plots["gpu_util"].curves["GPU 1"].ts) == 3
    charts.set_curves("gpu_util", _live(["GPU 4"], [5.0], [50.0]))  # another GPU: only its curve is drawn
    assert _drawn(charts, "gpu_util") == [([5.0], [50.0])]


def test_history_bands_go_away_when_live_comes_back(qtbot: QtBot) -> None:
    charts = MetricCharts(DARK)
    qtbot.addWidget(charts)
    ts, mean = np.array([1.0, 2.0, 3.0]), np.array([5.0, 6.0, 7.0])
    charts.set_curves("power", [CurveData("GPU 0", ts, mean, mean - 1, mean + 1)])
    item = charts.plots["power"].item
    bands = [i for i in item.items if type(i).__name__ == "FillBetweenItem"]
    assert len(bands) == 1
    charts.set_curves("power", _live(["GPU 0"], [4.0], [8.0]))
    assert not [i for i in item.items if type(i).__name__ == "FillBetweenItem"]
    assert _drawn(charts, "power") == [([4.0], [8.0])]
