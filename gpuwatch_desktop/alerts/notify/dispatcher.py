"""Queue, group, repeat and retry alert notifications, like Alertmanager's route and notify pipeline.

The engine calls ``submit(events)`` (from any thread, never blocks). ``run()`` is the dispatcher's loop, a named
task the app starts and ends with ``aclose()``. Alerts whose labels agree on ``group_by`` (the rule name by
default) form a group: its first message waits ``group_wait_s`` so alerts that fire together go out as one;
later changes go out at most every ``group_interval_s``; a group that still fires, unchanged and unacknowledged,
is sent again every ``repeat_interval_s``. A resolve is sent only for an alert whose firing was sent.

Each channel has its own queue and task: a failing channel retries with backoff (2 s doubling to 5 min, giving
up on a message after ``max_attempts``) and never delays another. ``statuses()`` and ``on_status_changed`` tell
the UI how each channel is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gpuwatch_desktop.alerts.notify.channels import Channel, ChannelError
from gpuwatch_desktop.alerts.notify.payloads import (
    FIRING,
    RESOLVED,
    Labels,
    Notification,
    NotifiedAlert,
    alert_from_active,
    alert_from_event,
    group_key,
    sample_notification,
)
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState
from gpuwatch_desktop.core.errors import ConfigError

log = logging.getLogger(__name__)

StillFiring = Callable[[], Sequence[ActiveAlert]]
RuleLabels = Callable[[str], Labels]
StatusCallback = Callable[["ChannelStatus"], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_s: float = 2.0
    max_s: float = 300.0
    max_attempts: int = 8  # per message; then it is dropped and the error says so

    def delay(self, failures: int) -> float:
        """Seconds to wait after the channel's ``failures``-th failure in a row (1, 2, ...)."""
        return min(self.max_s, self.initial_s * 2 ** max(0, failures - 1))


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """How a channel is doing, for the UI. ``pending``: messages queued or being retried."""

    name: str
    last_ok: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    pending: int = 0

    @property
    def healthy(self) -> bool:
        return self.last_error_at is None or (self.last_ok is not None and self.last_ok >= self.last_error_at)


class _Lane:
    """One channel's queue, delivery state and status."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.queue: deque[Notification] = deque()
        self.wake = asyncio.Event()
        self.status = ChannelStatus(channel.name)
        self.attempts = 0  # of the message at the head of the queue
        self.failures = 0  # in a row, for the backoff


@dataclass(slots=True)
class _Group:
    key: str
    labels: Labels
    next_flush: float
    alerts: dict[str, NotifiedAlert] = field(default_factory=dict)  # by fingerprint
    notified: set[str] = field(default_factory=set)  # fingerprints whose firing was sent
    last_sent: float | None = None


class NotificationDispatcher:
    def __init__(self, channels: Sequence[Channel], *, group_wait_s: float = 10.0, group_interval_s: float = 60.0,
                 repeat_interval_s: float = 4 * 3600.0, group_by: Sequence[str] = ("alertname",),
                 retry: RetryPolicy | None = None, clock: Callable[[], float] = time.time,
                 still_firing: StillFiring | None = None, rule_labels: RuleLabels | None = None,
                 on_status_changed: StatusCallback | None = None, max_queue: int = 100,
                 max_sleep_s: float = 1.0) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ConfigError(f"channel names must be unique: {', '.join(sorted(names))}")
        if group_wait_s < 0 or group_interval_s <= 0 or repeat_interval_s < group_interval_s:
            raise ConfigError("need group wait >= 0, group interval > 0 and repeat interval >= group interval")
        if max_queue < 2:
            raise ConfigError("a channel's queue must hold at least 2 messages")
        self._lanes = {c.name: _Lane(c) for c in channels}
        self._group_wait_s = group_wait_s
        self._group_interval_s = group_interval_s
        self._repeat_s = repeat_interval_s
        self._group_by = tuple(group_by)
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._still_firing = still_firing
        self._rule_labels = rule_labels
        self._on_status_changed = on_status_changed
        self._max_queue = max_queue
        self._max_sleep_s = max_sleep_s
        self._groups: dict[str, _Group] = {}
        self._inbox: list[AlertEvent] = []
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run_task: asyncio.Task[None] | None = None

    # -- what the app calls -------------------------------------------------------------------------------

    def submit(self, events: Sequence[AlertEvent]) -> None:
        """Queue alert events; thread-safe, never blocks. Only unsilenced FIRING and RESOLVED events notify."""
        wanted = [e for e in events if e.state in (AlertState.FIRING, AlertState.RESOLVED) and not e.silenced]
        if not wanted:
            return
        with self._lock:
            self._inbox.extend(wanted)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the events wait for the next run()
                loop.call_soon_threadsafe(self._wake.set)

    def statuses(self) -> tuple[ChannelStatus, ...]:
        return tuple(lane.status for lane in self._lanes.values())

    def status(self, name: str) -> ChannelStatus:
        return self._lanes[name].status

    async def send_test(self, name: str) -> None:
        """Send a made-up alert through one channel now, bypassing the queue; raises ``ChannelError``."""
        await self._lanes[name].channel.send(sample_notification(self._clock()))

    async def run(self) -> None:
        """The loop: group, flush and hand messages to the channels' tasks until cancelled."""
        if self._run_task is not None and not self._run_task.done():
            raise RuntimeError("the notification dispatcher is already running")
        self._loop = asyncio.get_running_loop()
        self._run_task = asyncio.current_task()
        self._wake = asyncio.Event()  # events belong to one loop: fresh ones for each run
        for lane in self._lanes.values():
            lane.wake = asyncio.Event()
            lane.wake.set()
        workers = [asyncio.create_task(self._deliver(lane), name=f"notify-channel:{name}")
                   for name, lane in self._lanes.items()]
        try:
            while True:
                self._wake.clear()
                now = self._clock()
                self._ingest(now)
                self._flush_due(now)
                await self._sleep(self._next_deadline() - self._clock())
        finally:
            self._loop = None
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop ``run()`` (messages not yet sent are dropped) and close the channels."""
        task = self._run_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])
        for lane in self._lanes.values():
            try:
                await lane.channel.aclose()
            except Exception as exc:  # closing must finish for every channel
                log.warning("closing notification channel %s failed: %s", lane.channel.name, type(exc).__name__)

    # -- grouping -----------------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(max(0.0, min(seconds, self._max_sleep_s))):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _next_deadline(self) -> float:
        return min((g.next_flush for g in self._groups.values()), default=float("inf"))

    def _ingest(self, now: float) -> None:
        with self._lock:
            events, self._inbox = self._inbox, []
        for event in events:
            alert = alert_from_event(event, rule_labels=self._labels_of_rule(event.rule_id))
            group = self._group_of(alert, now)
            previous = group.alerts.get(alert.fingerprint)
            if alert.status == FIRING:
                if previous is not None and previous.status == FIRING:
                    alert = replace(alert, starts_at=previous.starts_at)
                group.alerts[alert.fingerprint] = alert
            elif previous is not None:  # a resolve of an alert this dispatcher saw fire
                group.alerts[alert.fingerprint] = replace(alert, starts_at=previous.starts_at)

    def _labels_of_rule(self, rule_id: str) -> Labels:
        if self._rule_labels is None:
            return ()
        try:
            return tuple(self._rule_labels(rule_id))
        except Exception as exc:
            log.warning("rule labels of %s unavailable: %s", rule_id, type(exc).__name__)
            return ()

    def _group_of(self, alert: NotifiedAlert, now: float) -> _Group:
        labels = tuple((name, alert.label(name)) for name in self._group_by)
        key = group_key(labels)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, labels, next_flush=now + self._group_wait_s)
        return group

    def _flush_due(self, now: float) -> None:
        for key, group in list(self._groups.items()):
            if now < group.next_flush:
                continue
            notification = self._flush(group, now)
            group.next_flush = now + self._group_interval_s
            if notification is not None:
                self._enqueue(notification)
            if not group.alerts:
                del self._groups[key]

    def _flush(self, group: _Group, now: float) -> Notification | None:
        firing = {fp: a for fp, a in group.alerts.items() if a.status == FIRING}
        resolved = [a for a in group.alerts.values() if a.status == RESOLVED and a.fingerprint in group.notified]
        for fp in [fp for fp, a in group.alerts.items() if a.status == RESOLVED]:
            del group.alerts[fp]
            group.notified.discard(fp)
        changed = bool(resolved) or any(fp not in group.notified for fp in firing)
        repeat_due = group.last_sent is not None and now - group.last_sent >= self._repeat_s
        if not changed and not repeat_due:
            return None
        to_send = self._unacknowledged(group, firing, repeat=not changed)
        if not to_send and not resolved:
            return None
        group.notified.update(a.fingerprint for a in to_send)
        group.last_sent = now
        return Notification(group.key, group.labels, (*to_send, *resolved), sent_at=now)

    def _unacknowledged(self, group: _Group, firing: dict[str, NotifiedAlert], repeat: bool) -> list[NotifiedAlert]:
        """The firing alerts to send: acknowledged and silenced ones left out. A repeat sends only what the
        engine still shows firing (with its current value) and forgets alerts it no longer shows."""
        active = self._active_alerts()
        if active is None:
            return list(firing.values())
        result: list[NotifiedAlert] = []
        for fp, alert in firing.items():
            now_active = active.get(fp)
            if now_active is None or now_active.state is not AlertState.FIRING:
                if repeat:
                    del group.alerts[fp]
                    group.notified.discard(fp)
                else:
                    result.append(alert)
            elif not (now_active.acknowledged or now_active.silenced):
                result.append(replace(alert_from_active(now_active), starts_at=alert.starts_at) if repeat else alert)
        return result

    def _active_alerts(self) -> dict[str, ActiveAlert] | None:
        if self._still_firing is None:
            return None
        try:
            active = self._still_firing()
        except Exception as exc:  # without the engine's view, send what we know
            log.warning("still_firing callback failed: %s", type(exc).__name__)
            return None
        return {alert_from_active(a).fingerprint: a for a in active}

    # -- delivery -----------------------------------------------------------------------------------------

    def _enqueue(self, notification: Notification) -> None:
        for lane in self._lanes.values():
            if len(lane.queue) >= self._max_queue:
                del lane.queue[1]  # the oldest one not being sent now
                self._update(lane, last_error="too many unsent messages: dropped the oldest",
                             last_error_at=self._clock())
            lane.queue.append(notification)
            lane.wake.set()
            self._update(lane)

    async def _deliver(self, lane: _Lane) -> None:
        while True:
            while not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
            notification = lane.queue[0]
            lane.attempts += 1
            error = await self._try_send(lane.channel, notification)
            if error is None:
                lane.queue.popleft()
                lane.attempts = lane.failures = 0
                self._update(lane, last_ok=self._clock())
                continue
            lane.failures += 1
            if lane.attempts >= self._retry.max_attempts:
                error += f" (gave up on a message after {lane.attempts} attempts)"
                lane.queue.popleft()
                lane.attempts = 0
            self._update(lane, last_error=error, last_error_at=self._clock())
            await asyncio.sleep(self._retry.delay(lane.failures))

    async def _try_send(self, channel: Channel, notification: Notification) -> str | None:
        try:
            await channel.send(notification)
        except ChannelError as exc:
            return str(exc)
        except Exception as exc:  # a bug in one channel must not stop the others; the text may hold a secret
            log.error("notification channel %s failed unexpectedly: %s", channel.name, type(exc).__name__)
            return f"{channel.name}: unexpected {type(exc).__name__}"
        return None

    def _update(self, lane: _Lane, **changes: Any) -> None:
        lane.status = replace(lane.status, pending=len(lane.queue), **changes)
        if changes.get("last_error"):
            log.warning("notification channel %s", changes["last_error"])
        if self._on_status_changed is not None:
            try:
                self._on_status_changed(lane.status)
            except Exception as exc:
                log.warning("on_status_changed callback failed: %s", type(exc).__name__)
