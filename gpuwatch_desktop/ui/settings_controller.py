"""Opens the Settings dialog and carries out what it asks: secrets to the keyring, settings to the file, the new
nodes and channels to the running app, and "Send test" through a notification channel.

Wiring in ``ui/app.py`` (it replaces ``_on_settings_requested`` and ``_on_settings_accepted``)::

    from gpuwatch_desktop.ui.settings_controller import SettingsController

    # AppController.__init__, after self.quit_requested:
    self.settings_ui = SettingsController(
        lambda: self.settings, self.config_path, self.secrets, apply_settings=self._apply_settings,
        restart_notifications=self._restart_notifications, dispatcher=lambda: self.dispatcher,
        window=lambda: self.window, parent=self)

    # _start_alerting: the dispatcher reports channel status changes to the dialog
    self.dispatcher, _problems = await start_dispatcher(
        self.settings.channels, self.secrets, self.state, lambda: service.rules,
        self.settings_ui.on_status_changed)

    # _build_window, instead of connecting _on_settings_requested:
    self.window.settingsRequested.connect(self.settings_ui.open_dialog)

    # shutdown, right after the gather of self.tasks: a save or "Send test" still running ends
    await self.settings_ui.aclose()

    async def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        assert self.poller is not None
        self.poller.interval_s = settings.poll_interval_s
        if self.window is not None and self.notifier is not None:
            self.window.hides_to_tray = settings.close_to_tray and self.notifier.tray is not None
        await self._apply_nodes()

    async def _restart_notifications(self, channels: Sequence[ChannelConfig]) -> dict[str, str]:
        if self.alerts is None:
            return {}
        service = self.alerts
        if self.dispatcher is not None:
            await self.dispatcher.aclose()  # ends its "notifications" task; unsent messages are dropped
        self.dispatcher, problems = await start_dispatcher(
            channels, self.secrets, self.state, lambda: service.rules, self.settings_ui.on_status_changed)
        service.dispatcher = self.dispatcher
        self._start_task("notifications", self.dispatcher.run())
        return problems

(imports there: ``Sequence`` from collections.abc, ``ChannelConfig`` from gpuwatch_desktop.config.channels;
``SettingsDialog`` and ``save_settings`` are no longer used by app.py.)

Failures are shown in the window's status bar, never raised. Keyring calls and the settings file run in worker
threads. Without a usable keyring the secrets are not saved (never to a file) and the dialog says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow

from gpuwatch_desktop.alerts.notify.channels import EmailChannel, WebhookChannel, host_of
from gpuwatch_desktop.alerts.notify.dispatcher import ChannelStatus, NotificationDispatcher
from gpuwatch_desktop.alerts.notify.payloads import sample_notification
from gpuwatch_desktop.config.channels import ChannelConfig, WebhookConfig
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET
from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError
from gpuwatch_desktop.config.settings import Settings, save_settings
from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.services.notifications import build_channels
from gpuwatch_desktop.ui.channels_editor import ChannelEntry, needs_secret, secret_name_of
from gpuwatch_desktop.ui.llm_settings import ModelTabController
from gpuwatch_desktop.ui.settings_dialog import SettingsDialog
from gpuwatch_desktop.ui.theme import theme_named

log = logging.getLogger(__name__)
MESSAGE_MS = 15000
NOT_RUNNING = "notifications are off: the alert service is not running"


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What the keyring says of the saved channels: usable or why not, webhook hosts, whether each secret is
    stored, and why a channel could not be built."""

    keyring_ok: bool
    keyring_reason: str
    hosts: dict[str, str]
    stored: dict[str, bool]
    problems: dict[str, str]


def inspect_channels(channels: Sequence[ChannelConfig], secrets: SecretStore) -> ChannelFacts:
    """Blocking (keyring): run it in a worker thread."""
    ok, reason = secrets.available()
    hosts: dict[str, str] = {}
    stored: dict[str, bool] = {}
    for config in channels:
        if not needs_secret(config):
            continue
        try:
            value = secrets.get(secret_name_of(config, config.name)) if ok else None
        except SecretStoreError:
            value = None
        if ok:
            stored[config.name] = value is not None
        if isinstance(config, WebhookConfig):
            hosts[config.name] = host_of(value) if value else "no URL stored" if ok else "keyring unavailable"
    _channels, problems = build_channels(channels, secrets)
    return ChannelFacts(ok, reason, hosts, stored, problems)


def apply_secret_changes(secrets: SecretStore, updates: Mapping[str, str | None], moves: Mapping[str, str]) -> None:
    """Carry moved secrets to their new names, write new values, then delete what is no longer used. Blocking.

    Writes go first, so a failure part-way never loses a secret that is still needed."""
    carried = {new: secrets.get(old) for old, new in moves.items()}
    written = {name: value for name, value in carried.items() if value}
    written |= {name: value for name, value in updates.items() if value is not None}
    stale = ({name for name, value in updates.items() if value is None} | set(moves)) - set(written)
    for name, value in written.items():
        secrets.set(name, value)
    for name in sorted(stale):
        secrets.delete(name)


def throwaway_channel(config: ChannelConfig, secret: str | None) -> WebhookChannel | EmailChannel:
    """A throw-away channel for "Send test" of a channel that is not running (new, edited or disabled)."""
    if isinstance(config, WebhookConfig):
        if not secret:
            raise ConfigError(f"webhook {config.name!r} has no URL: enter it with Edit…")
        return WebhookChannel(config.name, secret, config.style, config.timeout_s)
    if config.username and not secret:
        raise ConfigError(f"e-mail channel {config.name!r} has no password: enter it with Edit…")
    return EmailChannel(config.name, config.host, config.port, config.security, config.username, secret,
                        config.sender, config.recipients, config.timeout_s)


class SettingsController(QObject):
    """``open_dialog`` shows Settings (non-modal); OK saves and applies. See the module docstring for wiring."""

    _statusArrived = Signal(object)  # ChannelStatus, possibly from another thread

    def __init__(self, settings: Callable[[], Settings], config_path: Path, secrets: SecretStore, *,
                 apply_settings: Callable[[Settings], Awaitable[None]],
                 restart_notifications: Callable[[Sequence[ChannelConfig]], Awaitable[Mapping[str, str]]],
                 dispatcher: Callable[[], NotificationDispatcher | None],
                 window: Callable[[], QMainWindow | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._config_path = config_path
        self._secrets = secrets
        self._apply_settings = apply_settings
        self._restart_notifications = restart_notifications
        self._dispatcher = dispatcher
        self._window = window
        self._saving = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()  # saves and tests in flight
        self.dialog: SettingsDialog | None = None  # while it is open
        self._statusArrived.connect(self._on_status_arrived)

    def on_status_changed(self, status: ChannelStatus) -> None:
        """The dispatcher's ``on_status_changed``: updates the dialog's status column (on the GUI thread)."""
        self._statusArrived.emit(status)

    def _on_status_arrived(self, status: ChannelStatus) -> None:
        if self.dialog is not None:
            self.dialog.channels_editor.show_status(status)

    @qasync.asyncSlot(str)
    async def open_dialog(self, tab: str = "") -> None:
        """Open Settings (or raise it) on the tab named ``tab`` ("" = where it is)."""
        if self.dialog is not None:
            self.dialog.show_tab(tab)
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        settings = self._settings()
        dialog = self.dialog = SettingsDialog(settings, self._window(), theme_named(settings.theme))
        dialog.finished.connect(self._on_dialog_finished)
        dialog.channels_editor.testRequested.connect(self._on_test_requested)
        model_tab = ModelTabController(dialog.model_tab, self._secrets, parent=dialog)  # Test connection, Detect
        dispatcher = self._dispatcher()
        for status in dispatcher.statuses() if dispatcher is not None else ():
            dialog.channels_editor.show_status(status)
        dialog.show_tab(tab)
        dialog.open()
        await model_tab.show_key_state()
        await self._show_channel_facts(dialog, settings.channels)
        tokens = await NodeTokens(self._secrets).read(n.name for n in settings.nodes)
        if self.dialog is dialog:
            dialog.show_stored_tokens({name for name, token in tokens.items() if token})

    async def _show_channel_facts(self, dialog: SettingsDialog, channels: Sequence[ChannelConfig]) -> None:
        facts = await asyncio.to_thread(inspect_channels, channels, self._secrets)
        if self.dialog is not dialog:  # closed meanwhile
            return
        dispatcher = self._dispatcher()
        running = {s.name for s in dispatcher.statuses()} if dispatcher is not None else set()
        problems = {name: why for name, why in facts.problems.items() if name not in running}
        if dispatcher is None:
            problems = {c.name: problems.get(c.name, NOT_RUNNING) for c in channels if c.enabled}
        dialog.channels_editor.show_keyring(facts.keyring_ok, facts.keyring_reason)
        dialog.channels_editor.show_channel_facts(facts.hosts, facts.stored, problems)

    def _on_dialog_finished(self) -> None:
        """Take what the dialog holds now (it is deleted next), then save in the background if OK was clicked."""
        dialog, self.dialog = self.dialog, None
        if dialog is None:
            return
        settings, editor = dialog.result_settings, dialog.channels_editor
        updates = {**editor.secret_updates(), **dialog.model_tab.secret_updates(), **dialog.node_token_updates()}
        moves = editor.secret_moves()
        dialog.deleteLater()
        if settings is not None:
            self._start(self.save(settings, updates, moves), "settings-save")

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: its name only, its text or traceback might hold a secret
            log.error("%s failed: %s", task.get_name(), type(error).__name__)
            self._show(f"Settings: unexpected {type(error).__name__}")

    @property
    def busy(self) -> bool:
        """Whether a save or a test is still running."""
        return bool(self._tasks)

    async def aclose(self) -> None:
        """Cancel saves and tests still running (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def save(self, settings: Settings, updates: Mapping[str, str | None], moves: Mapping[str, str]) -> None:
        """Secrets, then the settings file, then the running app; one save at a time; the outcome in the status
        bar."""
        async with self._saving:
            old = self._settings()
            notes = await self._write_secrets(updates, moves) if updates or moves else []
            try:
                await asyncio.to_thread(save_settings, settings, self._config_path)
            except ConfigError as exc:
                notes.append(f"Settings not saved: {exc}")
            try:
                await self._apply_settings(settings)
                if settings.channels != old.channels or updates or moves:
                    problems = await self._restart_notifications(settings.channels)
                    notes += [f"Channel “{name}” unavailable: {why}" for name, why in problems.items()]
            except GpuwatchError as exc:
                notes.append(f"Settings not applied: {exc}")
            self._show("  ·  ".join(notes) if notes else "Settings saved.")

    async def _write_secrets(self, updates: Mapping[str, str | None], moves: Mapping[str, str]) -> list[str]:
        ok, reason = await asyncio.to_thread(self._secrets.available)
        if not ok:
            channel_secrets = bool(set(updates) - {LLM_API_KEY_SECRET} or moves)
            what = " and the model API key" if LLM_API_KEY_SECRET in updates else ""
            what = f"Webhook URLs and SMTP passwords{what}" if channel_secrets else "The model API key"
            return [f"{what} {'were' if channel_secrets else 'was'} not saved: {reason}"]
        try:
            await asyncio.to_thread(apply_secret_changes, self._secrets, updates, moves)
        except SecretStoreError as exc:
            return [f"Secrets not saved: {exc}"]
        return []

    def _show(self, text: str) -> None:
        log.info("settings: %s", text)
        window = self._window()
        if window is not None:
            window.statusBar().showMessage(text, MESSAGE_MS)

    def _on_test_requested(self, name: str) -> None:
        if self.dialog is not None:
            self._start(self._test(self.dialog, name), f"settings-send-test:{name}")

    async def _test(self, dialog: SettingsDialog, name: str) -> None:
        error = await self._send_test(dialog.channels_editor.entry(name))
        if self.dialog is dialog:  # else closed meanwhile
            dialog.channels_editor.show_test_result(name, error)

    async def _send_test(self, entry: ChannelEntry) -> str | None:
        """Through the running channel when it is saved unchanged, else through a throw-away one; the error."""
        config, secret, original = entry.config, entry.secret, entry.original
        dispatcher = self._dispatcher()
        running = {s.name for s in dispatcher.statuses()} if dispatcher is not None else set()
        try:
            if dispatcher is not None and original in running and not entry.dirty:
                await dispatcher.send_test(config.name)
                return None
            if secret is None and original is not None and needs_secret(config):
                secret = await asyncio.to_thread(self._secrets.get, secret_name_of(config, original))
            channel = throwaway_channel(config, secret)
            try:
                await channel.send(sample_notification(time.time()))
            finally:
                await channel.aclose()
        except GpuwatchError as exc:
            return str(exc)
        except Exception as exc:  # a bug must not reach the UI; its text might hold a secret
            log.error("test of notification channel %s failed unexpectedly: %s", config.name, type(exc).__name__)
            return f"unexpected {type(exc).__name__}"
        return None
