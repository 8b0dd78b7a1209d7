"""Alerting at run time: evaluate the rules after each poll round, record every transition, notify.

The engine runs on the event loop (a round of 64 nodes × 8 GPUs × 20 rules takes a few ms); the
database work goes to the history thread; notifications go to the dispatcher's own tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from gpuwatch_desktop.alerts.engine import AlertEngine, Evaluation
from gpuwatch_desktop.alerts.intake import derive
from gpuwatch_desktop.alerts.notify.dispatcher import NotificationDispatcher
from gpuwatch_desktop.alerts.preview import RulePreview, preview_rule
from gpuwatch_desktop.alerts.rules_file import default_rules
from gpuwatch_desktop.core.alerts import (
    ActiveAlert,
    AlertEvent,
    AlertRule,
    AlertState,
    SeriesKey,
    Silence,
    effective_metric,
)
from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.core.metrics import DERIVED_INPUTS
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.state import Change, ClusterState
from gpuwatch_desktop.storage import HistoryStore

log = logging.getLogger(__name__)
EVENT_RETENTION_S = 90 * 86400
PREVIEW_SPAN_S = 3600.0  # the rule editor's preview replays the last hour
PREVIEW_MAX_POINTS = 4000  # per GPU and metric: raw samples at polls of 1 s or slower
PREVIEW_MAX_STEPS = 360  # replay steps at most: one per 10 s over the hour, finer than any useful `for`


def _load_rules(store: HistoryStore, defaults: Callable[[], list[AlertRule]]) -> list[AlertRule]:
    alerts = store.alerts()
    alerts.seed_defaults(defaults())
    return alerts.list_rules()


class AlertService:
    def __init__(self, state: ClusterState, history: HistoryWorker, engine: AlertEngine | None = None,
                 dispatcher: NotificationDispatcher | None = None,
                 defaults: Callable[[], list[AlertRule]] = default_rules) -> None:
        self.state = state
        self.history = history
        self.engine = engine or AlertEngine()
        self.dispatcher = dispatcher
        self._defaults = defaults
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._saved_active: list[ActiveAlert] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.last_evaluation: Evaluation | None = None
        self.event_listeners: list[Callable[[Sequence[AlertEvent]], None]] = []  # e.g. the tray's notifications

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self.engine.rules

    async def start(self) -> None:
        """Load (or seed) the rules, silences and the alerts active at the last stop; then follow rounds."""
        rules = await self.history.run(lambda s: _load_rules(s, self._defaults))
        silences = await self.history.run(lambda s: s.alerts().silences(now=time.time()))
        active = await self.history.run(lambda s: s.alerts().active())
        self.engine.set_rules(rules)
        self.engine.set_silences(silences)
        self.engine.restore(active)
        self._saved_active = active
        self.state.set_alerts(active)
        self._unsubscribe = self.state.subscribe(self._on_state_changed)

    def _on_state_changed(self, change: Change, node: str) -> None:
        if change is Change.ROUND:
            self.schedule()

    def schedule(self) -> None:
        """Evaluate soon; rounds that finish while an evaluation is being saved are folded into one more."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._evaluate_until_settled(), name="alert-evaluation")

    async def _evaluate_until_settled(self) -> None:
        while True:
            self._again = False
            await self.evaluate_once(time.time())
            if not self._again:
                return

    async def evaluate_once(self, now: float) -> Evaluation:
        evaluation = self.engine.evaluate(now, self.state.views(), self.state.live)
        self.last_evaluation = evaluation
        self.state.set_alerts(evaluation.active)
        await self._save(evaluation)
        if evaluation.events:
            if self.dispatcher is not None:
                self.dispatcher.submit(evaluation.events)
            for listener in list(self.event_listeners):
                listener(evaluation.events)
        return evaluation

    async def _save(self, evaluation: Evaluation) -> None:
        events, active = evaluation.events, evaluation.active
        save_active = active != self._saved_active
        if not events and not save_active:
            return

        def write(store: HistoryStore) -> None:
            alerts = store.alerts()
            if events:
                alerts.record_events(events)
            if save_active:
                alerts.replace_active(active)

        try:
            await self.history.run(write)
        except StorageError as exc:
            log.warning("alert events not saved: %s", exc)
            self.state.set_storage_error(str(exc))
        else:
            self._saved_active = list(active)

    # ---- what the UI asks for ---------------------------------------------------------------

    async def save_rule(self, rule: AlertRule) -> None:
        await self.history.run(lambda s: s.alerts().save_rule(rule))
        await self._reload_rules()

    async def delete_rule(self, rule_id: str) -> None:
        await self.history.run(lambda s: s.alerts().delete_rule(rule_id))
        await self._reload_rules()

    async def replace_rules(self, rules: Sequence[AlertRule]) -> None:
        """All or nothing (an import): the store refuses invalid rules before changing anything."""
        await self.history.run(lambda s: s.alerts().save_rules(list(rules)))
        await self._reload_rules()

    async def _reload_rules(self) -> None:
        rules = await self.history.run(lambda s: s.alerts().list_rules())
        self.engine.set_rules(rules)
        self.schedule()

    async def add_silence(self, silence: Silence) -> None:
        await self.history.run(lambda s: s.alerts().add_silence(silence))
        await self._reload_silences()

    async def expire_silence(self, silence_id: str) -> None:
        await self.history.run(lambda s: s.alerts().expire_silence(silence_id, time.time()))
        await self._reload_silences()

    async def silences(self) -> list[Silence]:
        return await self.history.run(lambda s: s.alerts().silences(now=time.time()))

    async def _reload_silences(self) -> None:
        self.engine.set_silences(await self.silences())
        self.schedule()

    def acknowledge(self, key: SeriesKey) -> bool:
        """Stop repeats of a firing alert until it resolves."""
        done = self.engine.acknowledge(key)
        if done:
            self.schedule()
        return done

    async def events(self, since: float | None = None, rule_id: str | None = None, node: str | None = None,
                     states: Sequence[AlertState] | None = None, limit: int = 500) -> list[AlertEvent]:
        return await self.history.run(
            lambda s: s.alerts().events(since=since, rule_id=rule_id, node=node, states=states, limit=limit)
        )

    async def preview(self, rule: AlertRule, now: float | None = None) -> RulePreview:
        """How ``rule`` would have behaved over the last hour of stored history, for every known GPU in its scope.

        The rule's metric (a derived one from its stored inputs) is read on the history thread and replayed
        through the engine on a worker thread. ValueError if the rule is invalid; StorageError if unreadable.
        """
        end = time.time() if now is None else now
        key = effective_metric(rule)
        if key is None:  # node down: follows polling, not metric history
            return await asyncio.to_thread(preview_rule, rule, {})
        gpus = [g for g in await self.history.known_gpus()
                if rule.scope.node in (None, g.node) and rule.scope.gpu in (None, g.gpu_index)]
        keys = DERIVED_INPUTS.get(key, (key,))
        queried = await asyncio.gather(*(self.history.query(g.node, g.gpu_index, keys, end - PREVIEW_SPAN_S, end,
                                                            max_points=PREVIEW_MAX_POINTS) for g in gpus))
        history: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        labels: dict[tuple[str, int], dict[str, str]] = {}
        spacing: list[float] = []
        for gpu, series in zip(gpus, queried, strict=True):
            times = series[keys[0]].ts
            values = derive(key, {k: s.mean for k, s in series.items()}) if key in DERIVED_INPUTS \
                else series[keys[0]].mean
            known = ~np.isnan(values)
            history[(gpu.node, gpu.gpu_index)] = (times[known], values[known])
            view = self.state.view(gpu.node)
            hostname = view.snapshot.hostname if view is not None and view.snapshot is not None else gpu.node
            labels[(gpu.node, gpu.gpu_index)] = {"uuid": gpu.uuid, "model": gpu.model, "hostname": hostname}
            if known.sum() > 1:
                spacing.append(float(np.median(np.diff(times[known]))))
        step = max(float(np.median(spacing)) if spacing else 0.0, PREVIEW_SPAN_S / PREVIEW_MAX_STEPS)
        return await asyncio.to_thread(preview_rule, rule, history, step, labels)

    async def prune(self, now: float) -> int:
        return await self.history.run(lambda s: s.alerts().prune_events(now - EVENT_RETENTION_S))

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
