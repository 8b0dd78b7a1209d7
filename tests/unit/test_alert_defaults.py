"""The shipped default rules: they load and validate, and the demo's fault scenarios make them fire in time.

The scenarios run the pod's simulator through its real exporter rendering and the desktop's dcgm
parser, polled every 2 s like the app does, into the engine with the default rules.
"""

from __future__ import annotations

from gpuwatch_desktop.alerts import AlertEngine
from gpuwatch_desktop.alerts.rules_file import default_rules, default_rules_path
from gpuwatch_desktop.core.alerts import AlertEvent, AlertRule, AlertState, RuleKind, Severity, validate_rule
from gpuwatch_desktop.core.snapshot import NodeState, NodeStatus, NodeView
from gpuwatch_desktop.services.live import LiveHistory
from gpuwatch_desktop.sources.dcgm import parse_node_payload
from gpuwatch_desktop.sources.promtext import PromTextParser
from gpuwatch_pod.render import MetricsRenderer
from gpuwatch_pod.sim import SimBackend

POLL_S = 2.0


def test_default_rules_load_and_validate() -> None:
    rules = default_rules()
    assert default_rules_path().is_file()
    assert [r.id for r in rules] == [
        "gpu-too-hot", "memory-nearly-full", "node-down", "xid-error", "idle-gpu", "power-throttling"]
    assert all(validate_rule(r) == {} for r in rules)
    by_id = {r.id: r for r in rules}
    hot = by_id["gpu-too-hot"]
    assert (hot.metric, hot.threshold, hot.clear_threshold, hot.severity) == ("gpu_temp", 85.0, 80.0, Severity.CRITICAL)
    assert (by_id["node-down"].kind, by_id["node-down"].for_s) == (RuleKind.NODE_DOWN, 30.0)
    idle = by_id["idle-gpu"]
    assert (idle.kind, idle.threshold, idle.window_s, idle.severity) == (RuleKind.IDLE, 5.0, 1800.0, Severity.INFO)
    assert "{cost}" in idle.description
    AlertEngine(rules)  # the engine takes them as they are


def run_scenario(scenario: str, seconds: float, rules: list[AlertRule] | None = None) -> list[AlertEvent]:
    clock = [1_700_000_000.0]
    sim = SimBackend(8, seed=0, hostname="node-1", clock=lambda: clock[0], scenario=scenario)
    renderer, parser = MetricsRenderer(sim.devices(), sim.hostname, sim.driver_version), PromTextParser()
    engine, history, events = AlertEngine(default_rules() if rules is None else rules), LiveHistory(), []
    engine.set_prices({"H100": 2.49})
    for _ in range(round(seconds / POLL_S)):
        clock[0] += POLL_S
        snapshot = parse_node_payload(parser, "node-1", renderer.render(sim.read()).decode(), clock[0])
        history.add(snapshot)
        view = NodeView(NodeStatus("node-1", NodeState.UP), snapshot)
        events += engine.evaluate(clock[0] + 0.05, [view], history).events
    return events


def fired(events: list[AlertEvent], rule_id: str) -> list[AlertEvent]:
    return [e for e in events if e.rule_id == rule_id and e.state is AlertState.FIRING]


def test_overheat_fires_gpu_too_hot_within_a_minute() -> None:
    events = run_scenario("overheat", 60)
    hot = fired(events, "gpu-too-hot")
    assert len({e.gpu for e in hot}) >= 6  # the GPUs under load; the demo forces load on all of them
    assert all(e.value is not None and e.value > 85 for e in hot)
    assert "is at" in hot[0].summary and "°C" in hot[0].summary


def test_healthy_node_fires_nothing() -> None:
    assert [(e.rule_id, e.gpu) for e in run_scenario("healthy", 300) if e.state is AlertState.FIRING] == []


def test_xid_scenario_fires_the_xid_rule_on_the_last_gpu() -> None:
    [xid] = fired(run_scenario("xid", 4), "xid-error")
    assert (xid.gpu, xid.value, xid.summary) == (7, 48.0, "GPU 7 on node-1 reported XID 48")


def test_memory_leak_fires_memory_nearly_full_on_the_leaking_gpu_only() -> None:
    [leak] = fired(run_scenario("memory-leak", 300), "memory-nearly-full")
    assert leak.gpu == 0 and leak.value is not None and leak.value > 97


def test_idle_scenario_fires_idle_gpu_with_its_cost_after_half_an_hour() -> None:
    events = run_scenario("idle", 1810)
    idle = fired(events, "idle-gpu")
    assert len(idle) == 8
    assert all(e.time > 1_700_000_000.0 + 1800 for e in idle)
    assert "wasting $2.49/h" in idle[0].summary


def test_the_demo_rule_set_shows_idle_gpus_within_about_a_minute() -> None:
    from gpuwatch_desktop.services.demo import demo_rules

    idle = fired(run_scenario("idle", 70, demo_rules()), "idle-gpu")
    assert len(idle) == 8 and all(e.time <= 1_700_000_000.0 + 70 for e in idle)
    assert "idle for a minute (demo setting; default 30 min)" in idle[0].summary
