"""The per-series state machine of one rule, over numpy arrays (one element per row).

Each evaluation gives every series in scope a *mode*: the condition holds, it does not, or a
missing-data policy says what to do. ``SeriesStates.step`` applies Prometheus/Grafana semantics
and returns the rows that changed state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertRule, AlertState, MissingPolicy

# State codes stored per row (RESOLVED is only ever an event: the row goes back to INACTIVE).
INACTIVE, PENDING, FIRING, NO_DATA, ERROR = range(5)
STATES = (AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.NO_DATA, AlertState.ERROR)
CODES = {state: code for code, state in enumerate(STATES)}

# Modes: what this evaluation says about a series; the last two leave an inactive series inactive.
HOLD, TO_NO_DATA, TO_ERROR, CLEAR, KEEP = range(5)


def policy_mode(policy: MissingPolicy, state_mode: int) -> int:
    return {MissingPolicy.STATE: state_mode, MissingPolicy.ALERTING: HOLD,
            MissingPolicy.OK: CLEAR, MissingPolicy.KEEP_LAST: KEEP}[policy]


@dataclass(frozen=True, slots=True)
class Changes:
    rows: np.ndarray  # rows (of the rule's space) that changed state
    old: np.ndarray  # their previous state codes
    new: np.ndarray  # their new state codes (INACTIVE after FIRING means resolved)


class SeriesStates:
    """State, timers and acknowledgement of every series of one rule."""

    def __init__(self, rule: AlertRule, size: int) -> None:
        self.rule = rule
        self.state = np.zeros(size, dtype=np.int8)
        self.since = np.full(size, np.nan)  # entered the current state
        self.active_since = np.full(size, np.nan)  # became pending (or no-data/error)
        self.clear_since = np.full(size, np.nan)  # firing but the condition stopped (keep-firing timer)
        self.value = np.full(size, np.nan)
        self.acked = np.zeros(size, dtype=bool)
        self.shown: dict[int, tuple[tuple[object, ...], ActiveAlert]] = {}  # row -> the alert shown last round
        self.shown_version = -1  # the layout/prices version those alerts were built for

    def grow(self, size: int) -> None:
        extra = size - len(self.state)
        if extra <= 0:
            return
        self.state = np.concatenate([self.state, np.zeros(extra, dtype=np.int8)])
        self.acked = np.concatenate([self.acked, np.zeros(extra, dtype=bool)])
        for name in ("since", "active_since", "clear_since", "value"):
            setattr(self, name, np.concatenate([getattr(self, name), np.full(extra, np.nan)]))

    def step(self, now: float, rows: np.ndarray, mode: np.ndarray, value: np.ndarray) -> Changes:
        """Advance ``rows`` (their modes and values given) to ``now``."""
        old = self.state[rows]
        new = old.copy()
        hold, clear = mode == HOLD, mode == CLEAR
        alerting = (old == PENDING) | (old == FIRING)
        new[hold & ~alerting] = FIRING if self.rule.for_s <= 0 else PENDING
        ripe = hold & (old == PENDING) & (now - self.active_since[rows] >= self.rule.for_s)
        new[ripe] = FIRING
        new[clear & (old != FIRING)] = INACTIVE
        cleared = clear & (old == FIRING)
        clear_since = np.where(cleared, np.fmin(self.clear_since[rows], now), self.clear_since[rows])  # NaN -> now
        clear_since[hold] = np.nan  # the keep-firing timer restarts only once the condition holds again
        new[cleared & (now - clear_since >= self.rule.keep_firing_s)] = INACTIVE
        new[mode == TO_NO_DATA] = NO_DATA
        new[mode == TO_ERROR] = ERROR
        self.clear_since[rows] = np.where(new == FIRING, clear_since, np.nan)
        self.value[rows] = value
        return self._commit(now, rows, old, new)

    def _commit(self, now: float, rows: np.ndarray, old: np.ndarray, new: np.ndarray) -> Changes:
        changed = np.flatnonzero(new != old)
        if len(changed) == 0:
            return Changes(changed, changed, changed)
        where = rows[changed]
        before, after = old[changed], new[changed]
        self.state[where] = after
        self.since[where] = now
        restart = ~((before == PENDING) & (after == FIRING))
        self.active_since[where[restart]] = now
        self.acked[where[after == INACTIVE]] = False
        return Changes(where, before, after)

    def end(self, now: float, rows: np.ndarray) -> Changes:
        """Series that no longer exist (node gone, rule removed or changed): back to INACTIVE."""
        old = self.state[rows]
        keep = old != INACTIVE
        new = np.where(keep, INACTIVE, old).astype(np.int8)
        changes = self._commit(now, rows, old, new)
        self.value[rows] = np.nan
        self.clear_since[rows] = np.nan
        return changes

    def restore(self, row: int, state: AlertState, since: float, active_since: float,
                value: float | None, acked: bool) -> None:
        self.state[row] = CODES[state]
        self.since[row], self.active_since[row] = since, active_since
        self.value[row] = np.nan if value is None else value
        self.acked[row] = acked
