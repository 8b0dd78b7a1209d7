"""Hypothesis state machine: the engine against a plain one-series model of the documented semantics.

Each step is one poll round of one GPU: a value arrives, the metric is missing, or the node is
stale; the rule (threshold, clear threshold, for, keep-firing, window, policies) is drawn at the
start. After every round the engine's events and active alert must match the model's, and
general laws must hold: no event repeats a state, nothing fires before ``for``.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gpuwatch_desktop.core.alerts import AlertRule, AlertState, MissingPolicy, SeriesKey
from gpuwatch_desktop.core.snapshot import NodeState
from tests.unit.test_alert_support import Cluster

IN, P, F, R = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED
N, E = AlertState.NO_DATA, AlertState.ERROR
STEP = 2.0


class Model:
    """One series, written as directly as the rules read (see alerts/engine.py)."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.state = IN
        self.active_since = 0.0
        self.clear_since: float | None = None
        self.samples: list[tuple[float, float | None]] = []
        self.acked = False

    def value(self, now: float) -> float | None:
        inside = [v for t, v in self.samples if t >= now - self.rule.window_s and v is not None]
        return inside[-1] if inside else None

    def mode(self, now: float, stale: bool) -> tuple[str, float | None]:
        value = self.value(now)
        if stale:
            return self.policy(self.rule.on_error, "error"), value
        if value is None:
            return self.policy(self.rule.no_data, "nodata"), value
        limit = self.rule.threshold
        if self.state is F and self.rule.clear_threshold is not None:
            limit = self.rule.clear_threshold
        return ("hold" if value > limit else "clear"), value

    @staticmethod
    def policy(policy: MissingPolicy, own: str) -> str:
        return {MissingPolicy.STATE: own, MissingPolicy.ALERTING: "hold", MissingPolicy.OK: "clear",
                MissingPolicy.KEEP_LAST: "keep"}[policy]

    def step(self, now: float, mode: str) -> tuple[AlertState, AlertState] | None:
        """(previous state, the event's state) if the series changes."""
        old, new = self.state, self.state
        if mode == "hold":
            self.clear_since = None
            if old in (IN, N, E):
                new = F if self.rule.for_s <= 0 else P
            elif old is P and now - self.active_since >= self.rule.for_s:
                new = F
        elif mode == "clear":
            if old is F:
                self.clear_since = now if self.clear_since is None else self.clear_since
                if now - self.clear_since >= self.rule.keep_firing_s:
                    new = IN
            else:
                new = IN
        elif mode in ("nodata", "error"):
            new = N if mode == "nodata" else E
        if new is not F:
            self.clear_since = None
        if new is old:
            return None
        if not (old is P and new is F):
            self.active_since = now
        if new is IN:
            self.acked = False
        self.state = new
        return old, R if (old is F and new is IN) else new


class EngineMachine(RuleBasedStateMachine):
    @initialize(
        threshold=st.integers(40, 60), clear=st.one_of(st.none(), st.integers(0, 15)),
        for_s=st.sampled_from([0.0, 2.0, 4.0, 7.0]), keep=st.sampled_from([0.0, 2.0, 5.0]),
        window=st.sampled_from([1.0, 2.0, 4.0, 9.0]),
        no_data=st.sampled_from(MissingPolicy), on_error=st.sampled_from(MissingPolicy),
    )
    def start(self, threshold: int, clear: int | None, for_s: float, keep: float, window: float,
              no_data: MissingPolicy, on_error: MissingPolicy) -> None:
        self.rule = AlertRule("r", "r", threshold=float(threshold), window_s=window, for_s=for_s, keep_firing_s=keep,
                              clear_threshold=None if clear is None else float(threshold - clear),
                              no_data=no_data, on_error=on_error)
        self.cluster = Cluster([self.rule], step=STEP)
        self.model = Model(self.rule)
        self.held_since: float | None = None

    def poll(self, values: dict[str, float], stale: bool = False) -> None:
        states = {"n1": NodeState.STALE} if stale else None
        before = len(self.cluster.events)
        result = self.cluster.poll({"n1": {0: values}}, states=states)
        now = self.cluster.now
        if not stale:
            self.model.samples.append((now, values.get("gpu_temp")))
        mode, value = self.model.mode(now, stale)
        expected = self.model.step(now, mode)
        got = [(e.previous, e.state, e.value) for e in self.cluster.events[before:]]
        assert got == ([] if expected is None else [(*expected, value)])
        assert result is not None
        assert [(a.state, a.value, a.acknowledged) for a in result.active] == (
            [] if self.model.state is IN else [(self.model.state, value, self.model.acked)])

    @rule(temp=st.integers(0, 100))
    def sample(self, temp: int) -> None:
        self.poll({"gpu_temp": float(temp)})

    @rule()
    def metric_missing(self) -> None:
        self.poll({"power": 100.0})

    @rule()
    def node_stale(self) -> None:
        if self.cluster.last:  # a node goes stale only after it answered once
            self.poll({}, stale=True)

    @rule()
    def acknowledge(self) -> None:
        done = self.cluster.engine.acknowledge(SeriesKey("r", "n1", 0))
        assert done == (self.model.state is not IN)
        self.model.acked = self.model.acked or done

    @invariant()
    def events_change_state_and_fire_only_after_for(self) -> None:
        if not hasattr(self, "cluster"):
            return
        assert all(e.previous is not e.state for e in self.cluster.events)
        for before, after in zip(self.cluster.events, self.cluster.events[1:], strict=False):
            assert after.previous is (IN if before.state is R else before.state)  # a chain, nothing skipped
        for fired in (e for e in self.cluster.events if e.state is F and e.previous is P):
            started = max(e.time for e in self.cluster.events if e.state is P and e.time <= fired.time)
            assert fired.time - started >= self.rule.for_s


EngineMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_engine_matches_the_model = EngineMachine.TestCase
