"""An active alert's description follows its value round by round, as the user reads it in the Alerts tab."""

from __future__ import annotations

from gpuwatch_desktop.core.alerts import AlertRule
from tests.unit.test_alert_support import Cluster, one

HOT = AlertRule("hot", "GPU too hot", metric="gpu_temp", threshold=85.0, window_s=10.0,
                description="GPU {gpu} on {node} at {value}{unit}")


def summaries(rule: AlertRule, values: list[float]) -> list[tuple[float | None, str]]:
    cluster = Cluster([rule])
    shown = []
    for value in values:
        result = cluster.poll(one("gpu_temp", value))
        assert result is not None
        [active] = result.active
        shown.append((active.value, active.summary))
    return shown


def test_the_description_shows_each_round_s_value_to_four_digits() -> None:
    assert summaries(HOT, [90.0, 91.23456, 91.23449, 91.0]) == [
        (90.0, "GPU 0 on n1 at 90°C"), (91.23456, "GPU 0 on n1 at 91.23°C"),
        (91.23449, "GPU 0 on n1 at 91.23°C"), (91.0, "GPU 0 on n1 at 91°C"),
    ]


def test_a_description_without_the_value_stays_while_the_value_moves() -> None:
    rule = AlertRule("hot", "GPU too hot", metric="gpu_temp", threshold=85.0, window_s=10.0,
                     description="GPU {gpu} on {node} runs hot")
    plain = AlertRule("hot", "GPU too hot", metric="gpu_temp", threshold=85.0, window_s=10.0)
    assert summaries(rule, [90.0, 95.0]) == [(90.0, "GPU 0 on n1 runs hot"), (95.0, "GPU 0 on n1 runs hot")]
    assert summaries(plain, [90.0, 95.0]) == [(90.0, "GPU too hot on n1 GPU 0"), (95.0, "GPU too hot on n1 GPU 0")]
