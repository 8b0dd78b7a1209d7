"""Carries out what the RunPod tab asks through ``RunPodAccount``: the key, polling while the tab is visible,
start/stop, and "Watch this pod" (a new node saved to the settings, its token to the keyring).

Wiring, in the composition root::

    account = RunPodAccount(secrets)
    view = RunPodView(theme)
    window.add_view(view, "RunPod")
    controller = RunPodController(account, view, lambda: self.settings, self.settings_ui.save, parent=self)
    ...
    await controller.aclose()  # at shutdown: stops polling, closes the HTTP client

Failures are shown in the view's banner, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from PySide6.QtCore import QObject

from gpuwatch_desktop.config.secrets import node_token_secret_name
from gpuwatch_desktop.config.settings import Settings
from gpuwatch_desktop.core.errors import GpuwatchError
from gpuwatch_desktop.provisioning.runpod_api import RunPodPod
from gpuwatch_desktop.services.runpod_account import AccountSnapshot, RunPodAccount, node_for_pod
from gpuwatch_desktop.ui.runpod_view import RunPodView

log = logging.getLogger(__name__)
SaveSettings = Callable[[Settings, Mapping[str, str | None], Mapping[str, str]], Awaitable[None]]


class RunPodController(QObject):
    def __init__(self, account: RunPodAccount, view: RunPodView, settings: Callable[[], Settings],
                 save_settings: SaveSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.account = account
        self._view = view
        self._settings = settings
        self._save_settings = save_settings
        self._poll_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = [
            view.visibilityChanged.connect(self._on_visibility_changed),
            view.keySubmitted.connect(self._on_key_submitted),
            view.keyForgetRequested.connect(self._on_key_forget_requested),
            view.refreshRequested.connect(self._on_refresh_requested),
            view.startConfirmed.connect(self._on_start_confirmed),
            view.stopConfirmed.connect(self._on_stop_confirmed),
            view.watchConfirmed.connect(self._on_watch_confirmed),
        ]
        if view.isVisible():
            self._on_visibility_changed(True)

    @property
    def busy(self) -> bool:
        """Whether a key check, refresh, start, stop or watch is still running."""
        return bool(self._tasks)

    @property
    def polling(self) -> bool:
        return self._poll_task is not None and not self._poll_task.done()

    def _on_visibility_changed(self, visible: bool) -> None:
        if visible and not self.polling:
            self._poll_task = asyncio.get_running_loop().create_task(
                self.account.poll(self._show), name="runpod-account-poll")
            self._poll_task.add_done_callback(self._on_task_done)
        elif not visible and self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None

    def _show(self, snapshot: AccountSnapshot) -> None:
        self._view.show_snapshot(snapshot)

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task is self._poll_task:
            self._poll_task = None
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: its name only (its text might hold the key)
            log.error("%s failed: %s", task.get_name(), type(error).__name__)
            self._view.show_error(f"RunPod: unexpected {type(error).__name__}")

    def _on_key_submitted(self, key: str) -> None:
        self._start(self._save_key(key), "runpod-save-key")

    async def _save_key(self, key: str) -> None:
        self._view.set_busy(True)
        self._view.show_message("Checking the key with RunPod…")
        try:
            note = await self.account.set_key(key)
        except GpuwatchError as exc:
            self._view.show_error(str(exc))
            self._view.show_message("The key was not saved.")
            return
        finally:
            self._view.set_busy(False)
        self._view.clear_key_field()
        self._view.show_snapshot(self.account.snapshot)
        self._view.show_message(note or "Key saved in the system keyring.")

    def _on_key_forget_requested(self) -> None:
        self._start(self._forget_key(), "runpod-forget-key")

    async def _forget_key(self) -> None:
        try:
            await self.account.forget_key()
        except GpuwatchError as exc:
            self._view.show_error(f"The key was not removed: {exc}")
            return
        self._view.show_snapshot(self.account.snapshot)
        self._view.show_message("Key removed from the system keyring.")

    def _on_refresh_requested(self) -> None:
        self._start(self._refresh(), "runpod-refresh")

    async def _refresh(self) -> None:
        self._view.set_busy(True)
        try:
            self._show(await self.account.refresh())
        finally:
            self._view.set_busy(False)

    def _on_start_confirmed(self, pod: RunPodPod) -> None:
        self._start(self._change(pod, "Starting", self.account.start_pod), f"runpod-start:{pod.id}")

    def _on_stop_confirmed(self, pod: RunPodPod) -> None:
        self._start(self._change(pod, "Stopping", self.account.stop_pod), f"runpod-stop:{pod.id}")

    async def _change(self, pod: RunPodPod, doing: str, action: Callable[[RunPodPod], Awaitable[str]]) -> None:
        self._view.show_message(f"{doing} {pod.name}…")
        try:
            status = await action(pod)
        except GpuwatchError as exc:
            self._view.show_error(f"{pod.name} was not {'started' if doing == 'Starting' else 'stopped'}: {exc}")
            self._view.show_message("")
            return
        self._view.show_message(f"{doing} {pod.name}: RunPod now has it as {status or 'changing'}.")
        self._show(await self.account.refresh())

    def _on_watch_confirmed(self, pod: RunPodPod, token: str) -> None:
        self._start(self._watch(pod, token), f"runpod-watch:{pod.id}")

    async def _watch(self, pod: RunPodPod, token: str) -> None:
        settings = self._settings()
        try:
            node = node_for_pod(pod, settings.nodes)
        except GpuwatchError as exc:
            self._view.show_error(f"Not added: {exc}")
            return
        updates = {node_token_secret_name(node.name): token} if token else {}
        await self._save_settings(settings.with_nodes((*settings.nodes, node)), updates, {})
        if any(n.name == node.name for n in self._settings().nodes):
            self._view.show_message(f"Watching {pod.name} as node “{node.name}”: its GPUs appear in the Cluster "
                                    "tab after the next poll.")
        else:
            self._view.show_error(f"{pod.name} was not added to the watched cluster: see the status bar.")

    async def aclose(self) -> None:
        """Stop polling and any start/stop in flight, then close the HTTP client; the view's requests no longer
        reach this controller."""
        for connection in self._connections:
            QObject.disconnect(connection)
        self._connections.clear()
        tasks = [t for t in (self._poll_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poll_task = None
        await self.account.aclose()
