"""The rule editor's preview: the same engine replayed over an hour of stored history."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gpuwatch_desktop.alerts.preview import preview_rule
from gpuwatch_desktop.core.alerts import (
    Aggregation,
    AlertRule,
    AlertState,
    LabelMatcher,
    MatchOp,
    RuleKind,
    Scope,
)
from tests.unit.test_alert_support import T0, Cluster

TIMES = T0 + np.arange(0, 3600, 2.0)  # an hour at 2 s
HOT = AlertRule("hot", "GPU too hot", threshold=85.0, clear_threshold=80.0, for_s=45.0)


def temps(*episodes: tuple[int, int]) -> np.ndarray:
    """60 °C with 95 °C from start to end (seconds into the hour) for each episode."""
    values = np.full(len(TIMES), 60.0)
    for start, end in episodes:
        values[(T0 + start <= TIMES) & (T0 + end > TIMES)] = 95.0
    return values


def history() -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    return {
        ("n1", 0): (TIMES, temps((600, 900), (2000, 2100))),
        ("n1", 1): (TIMES, temps((1200, 1230), (3000, 3300))),  # the first is too short to fire
        ("n2", 0): (TIMES, temps()),
    }


def test_counts_firings_and_gpus_in_one_line() -> None:
    result = preview_rule(HOT, history(), step_s=10.0)
    assert result.summary == "would have fired 3 times on 2 GPUs in the last hour"
    assert (result.fired_count, result.series_fired, result.pending_count) == (3, 2, 4)
    fired = [(e.node, e.gpu, e.time - T0) for e in result.events if e.state is AlertState.FIRING]
    assert [f[:2] for f in fired] == [("n1", 0), ("n1", 0), ("n1", 1)]
    for (_, _, at), start in zip(fired, (600, 2000, 3000), strict=True):
        assert start + 45 <= at <= start + 45 + 10  # never before `for`, within one step after


def test_replay_at_the_poll_interval_gives_the_live_engine_events() -> None:
    data = history()
    result = preview_rule(HOT, data, step_s=2.0)
    cluster = Cluster([HOT])
    cluster.now = T0 - 2.0
    for i in range(len(TIMES)):
        cluster.poll({"n1": {0: {"gpu_temp": data[("n1", 0)][1][i]}, 1: {"gpu_temp": data[("n1", 1)][1][i]}},
                      "n2": {0: {"gpu_temp": data[("n2", 0)][1][i]}}})
    assert [(e.time, e.node, e.gpu, e.previous, e.state, e.value) for e in result.events] == [
        (e.time, e.node, e.gpu, e.previous, e.state, e.value) for e in cluster.events]


def test_never_reads_samples_after_the_replay_clock() -> None:
    rule = AlertRule("spike", "spike", aggregation=Aggregation.MAX, window_s=600.0, threshold=90.0)
    data = {("n1", 0): (TIMES, temps((1800, 1802)))}
    [fired] = [e for e in preview_rule(rule, data, step_s=30.0).events if e.state is AlertState.FIRING]
    assert T0 + 1800 <= fired.time < T0 + 1830


def test_says_when_it_would_not_have_fired_or_only_been_pending() -> None:
    calm = preview_rule(HOT, {("n1", 0): (TIMES, temps())})
    assert calm.summary == "would not have fired in the last hour" and calm.events == []
    brief = preview_rule(HOT, {("n1", 0): (TIMES, temps((100, 120)))})
    assert brief.summary == "would not have fired in the last hour (pending 1 time, never for long enough)"


def test_scope_matchers_see_the_labels_given() -> None:
    rule = replace(HOT, scope=Scope(matchers=(LabelMatcher("model", MatchOp.RE, ".*A100.*"),)))
    labels = {("n1", 0): {"model": "NVIDIA A100-SXM4-80GB"}, ("n1", 1): {"model": "NVIDIA H100 80GB HBM3"}}
    result = preview_rule(rule, history(), labels=labels)
    assert {(e.node, e.gpu) for e in result.events} == {("n1", 0)}


def test_a_derived_metric_previews_from_its_own_series() -> None:
    rule = AlertRule("mem", "mem", metric="fb_used_pct", threshold=95.0)
    share = np.where(TIMES > T0 + 1000, 97.0, 50.0)
    assert preview_rule(rule, {("n1", 0): (TIMES, share)}).fired_count == 1


def test_nothing_to_replay() -> None:
    assert preview_rule(HOT, {}).summary == "no stored history to replay yet"
    node_down = AlertRule("down", "down", kind=RuleKind.NODE_DOWN)
    assert preview_rule(node_down, history()).fired_count == 0


def test_refuses_an_invalid_rule_or_step() -> None:
    with pytest.raises(ValueError, match="metric"):
        preview_rule(replace(HOT, metric="nope"), history())
    with pytest.raises(ValueError, match="step"):
        preview_rule(HOT, history(), step_s=0)


def test_a_short_history_names_its_span() -> None:
    short = {("n1", 0): (TIMES[:300], temps((0, 600))[:300])}
    assert preview_rule(HOT, short).summary == "would have fired once on 1 GPU in the last 10 minutes"
