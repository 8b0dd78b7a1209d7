"""Carries out what the Alerts view asks (save, delete, import, export, silence, ...) through ``AlertService``.

Wiring, in the composition root once ``await service.start()`` has loaded the rules::

    view = AlertsView(theme)
    window.add_view(view, "Alerts")
    controller = AlertsController(service, view, parent=app_controller)
    bridge.alertsChanged.connect(controller.refresh)  # active alerts -> rule states, Active tab
    bridge.nodesChanged.connect(controller.refresh)  # node choices in the editor and filters
    controller.refresh()

Errors (storage, rule files, invalid rules) are shown in the view's message bar, never raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import qasync
from PySide6.QtCore import QObject

from gpuwatch_desktop.alerts.rules_file import RulesFileError, load_rules_file, save_rules_file
from gpuwatch_desktop.core.alerts import AlertRule, SeriesKey, Silence
from gpuwatch_desktop.core.errors import StorageError
from gpuwatch_desktop.services.alerts_service import AlertService
from gpuwatch_desktop.ui.alerts_rows import EventQuery
from gpuwatch_desktop.ui.alerts_view import AlertsView

FAILURES = (StorageError, RulesFileError, ValueError, OSError)


def merge_rules(current: Sequence[AlertRule], imported: Sequence[AlertRule]) -> tuple[list[AlertRule], int]:
    """Imported rules replace the current ones with the same id, the others are added; (rules, how many new)."""
    by_id = {rule.id: rule for rule in imported}
    merged = [by_id.pop(rule.id, rule) for rule in current]
    return merged + list(by_id.values()), len(by_id)


class AlertsController(QObject):
    """Connects ``view``'s signals to ``service``; ``refresh`` shows the service's rules and active alerts."""

    def __init__(self, service: AlertService, view: AlertsView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._view = view
        self._events_request = 0
        self._preview_running = False
        self._preview_next: AlertRule | None = None
        view.ruleSaveRequested.connect(self._on_rule_save_requested)
        view.ruleDeleteRequested.connect(self._on_rule_delete_requested)
        view.rulesImportRequested.connect(self._on_rules_import_requested)
        view.rulesExportRequested.connect(self._on_rules_export_requested)
        view.previewRequested.connect(self._on_preview_requested)
        view.acknowledgeRequested.connect(self._on_acknowledge_requested)
        view.silenceRequested.connect(self._on_silence_requested)
        view.silenceExpireRequested.connect(self._on_silence_expire_requested)
        view.eventsRequested.connect(self._on_events_requested)

    def refresh(self) -> None:
        """Show the current nodes, rules and active alerts (cheap: no database work)."""
        state = self._service.state
        if list(state.node_names) != self._view.nodes:
            self._view.set_nodes(state.node_names)
        if list(self._service.rules) != self._view.rules:
            self._view.show_rules(self._service.rules)
            self._reload_silences()
        if list(state.alerts) != self._view.alerts:
            self._view.show_alerts(state.alerts)
            if self._view.tabs.currentWidget() is self._view.history_panel:
                self._view.history_panel.request()

    @qasync.asyncSlot()
    async def _reload_silences(self) -> None:
        try:
            self._view.show_silences(await self._service.silences())
        except StorageError as exc:
            self._view.show_error(f"Could not read the silences: {exc}")

    @qasync.asyncSlot(object)
    async def _on_rule_save_requested(self, rule: AlertRule) -> None:
        try:
            await self._service.save_rule(rule)
        except FAILURES as exc:
            self._view.show_error(f"Rule “{rule.name}” not saved: {exc}")
            return
        self.refresh()
        self._view.show_message(f"Saved rule “{rule.name}”.")

    @qasync.asyncSlot(str)
    async def _on_rule_delete_requested(self, rule_id: str) -> None:
        name = next((r.name for r in self._service.rules if r.id == rule_id), rule_id)
        try:
            await self._service.delete_rule(rule_id)
        except FAILURES as exc:
            self._view.show_error(f"Rule “{name}” not deleted: {exc}")
            return
        self.refresh()
        self._view.show_message(f"Deleted rule “{name}”.")

    @qasync.asyncSlot(object)
    async def _on_rules_import_requested(self, path: Path) -> None:
        try:
            imported = await asyncio.to_thread(load_rules_file, path)
            merged, added = merge_rules(self._service.rules, imported)
            await self._service.replace_rules(merged)
        except FAILURES as exc:
            self._view.show_error(f"{path.name} not imported, no rule changed: {exc}")
            return
        self.refresh()
        self._view.show_message(f"Imported {len(imported)} rules from {path.name}: "
                                f"{added} new, {len(imported) - added} replaced.")

    @qasync.asyncSlot(object)
    async def _on_rules_export_requested(self, path: Path) -> None:
        rules = list(self._service.rules)
        try:
            await asyncio.to_thread(save_rules_file, path, rules)
        except FAILURES as exc:
            self._view.show_error(f"Rules not exported: {exc}")
            return
        self._view.show_message(f"Exported {len(rules)} rules to {path}.")

    @qasync.asyncSlot(object)
    async def _on_preview_requested(self, rule: AlertRule) -> None:
        """One replay at a time; edits made meanwhile are previewed next, only the newest of them."""
        if self._preview_running:
            self._preview_next = rule
            return
        self._preview_running = True
        try:
            next_rule: AlertRule | None = rule
            while next_rule is not None:
                await self._preview(next_rule)
                next_rule, self._preview_next = self._preview_next, None
        finally:
            self._preview_running = False

    async def _preview(self, rule: AlertRule) -> None:
        try:
            preview = await self._service.preview(rule)
        except FAILURES as exc:
            self._view.show_preview(rule, f"No preview: {exc}")
            return
        text = preview.summary[:1].upper() + preview.summary[1:]
        self._view.show_preview(rule, f"{text}.")

    @qasync.asyncSlot(object)
    async def _on_acknowledge_requested(self, key: SeriesKey) -> None:
        if self._service.acknowledge(key):
            self._view.show_message(f"Acknowledged {key.node}{'' if key.gpu is None else f' GPU {key.gpu}'}: "
                                    "no repeated notifications until it resolves.")
        else:
            self._view.show_error("That alert is no longer active; nothing to acknowledge.")

    @qasync.asyncSlot(object)
    async def _on_silence_requested(self, silence: Silence) -> None:
        try:
            await self._service.add_silence(silence)
        except FAILURES as exc:
            self._view.show_error(f"Silence not added: {exc}")
            return
        self._reload_silences()
        until = time.strftime("%H:%M", time.localtime(silence.ends_at))
        self._view.show_message(f"Silenced until {until}.")

    @qasync.asyncSlot(str)
    async def _on_silence_expire_requested(self, silence_id: str) -> None:
        try:
            await self._service.expire_silence(silence_id)
        except FAILURES as exc:
            self._view.show_error(f"Silence not ended: {exc}")
            return
        self._reload_silences()

    @qasync.asyncSlot(object)
    async def _on_events_requested(self, query: EventQuery) -> None:
        self._events_request += 1
        request = self._events_request
        try:
            events = await self._service.events(since=query.since, rule_id=query.rule_id, node=query.node,
                                                states=query.states, limit=query.limit)
        except FAILURES as exc:
            self._view.show_error(f"Could not read the alert history: {exc}")
            return
        if request == self._events_request:  # else a newer query superseded this one while it ran
            self._view.show_events([e for e in events if query.severity in (None, e.severity)])
