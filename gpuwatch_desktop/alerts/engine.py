"""The alert engine: evaluates every rule over every series after each poll round.

Semantics follow Prometheus and Grafana. Per series (rule × GPU in scope, or rule × node for
node-down): the condition holds -> PENDING (FIRING at once when ``for_s`` is 0) -> FIRING once it
has held ``for_s``. When it stops, FIRING emits RESOLVED and the series is INACTIVE again, unless
``keep_firing_s`` keeps it firing that long, or ``clear_threshold`` (hysteresis) says it has not
cleared yet; PENDING just goes back to INACTIVE. Without data the rule's ``no_data`` policy
applies, on a stale or down node its ``on_error`` policy. Every change of state is one event.

Rules removed, disabled or changed in a field that affects evaluation end their series: at the
next evaluation each non-inactive series gets one event back to INACTIVE (RESOLVED if it was
firing), and a changed rule starts afresh. A series whose node leaves the views ends the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gpuwatch_desktop.alerts.conditions import RoundData, condition, windows_needed
from gpuwatch_desktop.alerts.intake import WindowSource, WindowStore
from gpuwatch_desktop.alerts.layout import Layout
from gpuwatch_desktop.alerts.present import Presenter, new_alert
from gpuwatch_desktop.alerts.state import CLEAR, FIRING, INACTIVE, STATES, Changes, SeriesStates
from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    SeriesKey,
    Silence,
    effective_metric,
    validate_rule,
)
from gpuwatch_desktop.core.snapshot import NodeView

_RESTORABLE = (AlertState.PENDING, AlertState.FIRING, AlertState.NO_DATA, AlertState.ERROR)


@dataclass(frozen=True, slots=True)
class Evaluation:
    time: float
    events: list[AlertEvent]  # every change of state of every series, in order
    active: list[ActiveAlert]  # series pending, firing, without data or in error


def _evaluation_fields(rule: AlertRule) -> tuple[object, ...]:
    """What decides a series' state; other fields (name, severity, labels, description) can change freely."""
    return (rule.kind, effective_metric(rule), rule.scope, rule.aggregation, rule.window_s, rule.comparator,
            rule.threshold, rule.clear_threshold, rule.for_s, rule.keep_firing_s, rule.no_data, rule.on_error)


class AlertEngine:
    def __init__(self, rules: Sequence[AlertRule] = (), prices: Mapping[str, float] | None = None) -> None:
        self._layout = Layout()
        self._store = WindowStore()
        self._rules: tuple[AlertRule, ...] = ()
        self._series: dict[str, SeriesStates] = {}
        self._scoped: dict[str, tuple[int, np.ndarray]] = {}  # rule id -> (layout version, rows in scope)
        self._ending: list[SeriesStates] = []
        self._silences: tuple[Silence, ...] = ()
        self._show = Presenter(self._layout)
        self._show.set_prices(prices or {})
        self._restores: list[ActiveAlert] = []
        self.set_rules(rules)

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    def set_rules(self, rules: Sequence[AlertRule]) -> None:
        """Replace the rule set; ValueError (nothing changed) if one is invalid or two share an id."""
        problems = [f"rule {r.id!r}: {field}: {why}" for r in rules for field, why in validate_rule(r).items()]
        ids = [r.id for r in rules]
        problems += [f"rule id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
        if problems:
            raise ValueError("; ".join(problems))
        old, self._series = self._series, {}
        for rule in rules:
            if not rule.enabled:
                continue
            kept = old.pop(rule.id, None)
            if kept is not None and _evaluation_fields(kept.rule) == _evaluation_fields(rule):
                kept.rule, kept.shown = rule, {}
                self._series[rule.id] = kept
                continue
            if kept is not None:
                self._ending.append(kept)
            self._series[rule.id] = SeriesStates(rule, 0)
            self._scoped.pop(rule.id, None)
        self._ending.extend(old.values())
        self._rules = tuple(rules)
        self._store.need(windows_needed(self._rules))

    def set_silences(self, silences: Sequence[Silence]) -> None:
        self._silences = tuple(silences)

    def set_prices(self, prices: Mapping[str, float]) -> None:
        """$ per GPU-hour by GPU model name (exact, else the longest name the model contains)."""
        self._show.set_prices(prices)

    def acknowledge(self, key: SeriesKey) -> bool:
        """Mark an active series acknowledged until it goes back to inactive; False if it is not active."""
        series = self._series.get(key.rule_id)
        row = None if series is None else self._row(series.rule, key)
        if series is None or row is None or row >= len(series.state) or series.state[row] == INACTIVE:
            return False
        series.acked[row] = True
        return True

    def restore(self, active: Sequence[ActiveAlert]) -> None:
        """Resume pending/firing (and no-data/error) series after a restart, without emitting events.

        Applied at the next evaluation to the series that exist then (a node still waiting for its
        first scrape keeps its alerts waiting too). A restored firing series with keep-firing keeps
        firing that long after the first evaluation where its condition does not hold.
        """
        self._restores.extend(a for a in active if a.state in _RESTORABLE)

    def evaluate(self, now: float, views: Sequence[NodeView], window: WindowSource) -> Evaluation:
        self._layout.update(views)
        self._store.ingest(now, views, self._layout, window)
        data = RoundData(now, views, self._layout, self._store)
        events = [e for series in self._ending for e in self._end(series, now, np.flatnonzero(series.state))]
        self._ending = []
        for series in self._series.values():
            series.grow(self._space(series.rule))
        self._apply_restores(views)
        active: list[ActiveAlert] = []
        for series in self._series.values():
            rows = self._rows_in_scope(series, now, events)
            state = series.state[rows]
            mode, value = condition(series.rule, rows, state == FIRING, data)
            if not state.any() and not (mode < CLEAR).any():
                continue  # every series inactive and staying so: the usual case, nothing to do
            events += self._events(series, series.step(now, rows, mode, value), now)
            active += self._active(series, now)
        return Evaluation(now, events, active)

    def _space(self, rule: AlertRule) -> int:
        return len(self._layout.gpus) if rule.per_gpu else len(self._layout.nodes)

    def _rows_in_scope(self, series: SeriesStates, now: float, events: list[AlertEvent]) -> np.ndarray:
        """The rule's rows this round; series that left the scope (their node is gone) end first."""
        version, rows = self._scoped.get(series.rule.id, (-1, np.empty(0, dtype=np.int64)))
        if version != self._layout.version:
            rows = self._layout.select(series.rule)
            gone = np.setdiff1d(np.flatnonzero(series.state), rows)
            events += self._end(series, now, gone)
            self._scoped[series.rule.id] = (self._layout.version, rows)
        return rows

    def _end(self, series: SeriesStates, now: float, rows: np.ndarray) -> list[AlertEvent]:
        return self._events(series, series.end(now, rows), now)

    def _events(self, series: SeriesStates, changes: Changes, now: float) -> list[AlertEvent]:
        rule, show, events = series.rule, self._show, []
        keys = show.keys(rule)
        values = series.value[changes.rows].tolist()
        for row, old, new, value in zip(changes.rows.tolist(), changes.old.tolist(), changes.new.tolist(), values,
                                        strict=True):
            key, value = keys[row], None if value != value else value  # NaN: no value
            state = AlertState.RESOLVED if (old == FIRING and new == INACTIVE) else STATES[new]
            events.append(AlertEvent(
                now, rule.id, rule.name, key.node, key.gpu, state, STATES[old], rule.severity, value,
                show.summary(rule, key, row, value), self._silenced(key, now),
            ))
        return events

    def _active(self, series: SeriesStates, now: float) -> list[ActiveAlert]:
        """Every non-inactive series; an alert that looks as it did last round is the same object."""
        rows = np.flatnonzero(series.state)
        rule, show, out = series.rule, self._show, []
        keys = show.keys(rule)
        columns = (series.state[rows], series.since[rows], series.active_since[rows], series.value[rows],
                   series.acked[rows])
        previous, current = (series.shown if series.shown_version == show.version else {}), {}
        silences, summary_of = self._silences, show.summary
        for row, state, since, active_since, value, acked in zip(rows.tolist(), *(c.tolist() for c in columns),
                                                                 strict=True):
            key, value = keys[row], None if value != value else value
            silenced = bool(silences) and any(s.covers(key, now) for s in silences)
            summary = summary_of(rule, key, row, value)
            seen = previous.get(row)
            if seen is None or seen[0] != (state, since, value, acked, silenced) or seen[1].summary is not summary:
                labels = show.labels(rule, row) if seen is None else seen[1].labels
                seen = ((state, since, value, acked, silenced), new_alert(
                    key, rule.name, STATES[state], rule.severity, since, active_since, value,
                    summary, labels, silenced, acked,
                ))
            current[row] = seen
            out.append(seen[1])
        series.shown, series.shown_version = current, show.version
        return out

    def _row(self, rule: AlertRule, key: SeriesKey) -> int | None:
        if rule.per_gpu:
            return None if key.gpu is None else self._layout.gpu_index.get((key.node, key.gpu))
        return self._layout.node_index.get(key.node)

    def _silenced(self, key: SeriesKey, now: float) -> bool:
        return bool(self._silences) and any(s.covers(key, now) for s in self._silences)

    def _apply_restores(self, views: Sequence[NodeView]) -> None:
        waiting = {v.status.node for v in views if v.snapshot is None}
        keep: list[ActiveAlert] = []
        for alert in self._restores:
            series = self._series.get(alert.key.rule_id)
            row = None if series is None else self._row(series.rule, alert.key)
            if series is None:
                continue
            if row is None or row not in self._layout.select(series.rule):
                if series.rule.per_gpu and alert.key.node in waiting:
                    keep.append(alert)
                continue
            if series.state[row] == INACTIVE:
                series.restore(row, alert.state, alert.since, alert.active_since, alert.value, alert.acknowledged)
        self._restores = keep
