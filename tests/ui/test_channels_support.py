"""Helpers for the settings controller tests (no tests here): the app side of its wiring, on a qasync loop, with
secrets in an in-memory keyring, settings in a real file and a real dispatcher."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import qasync
from keyring.backend import KeyringBackend
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMainWindow
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.alerts.notify.dispatcher import NotificationDispatcher, RetryPolicy
from gpuwatch_desktop.config.channels import ChannelConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import Settings
from gpuwatch_desktop.core.alerts import AlertEvent, AlertState, Severity
from gpuwatch_desktop.services.notifications import build_channels
from gpuwatch_desktop.ui.channel_dialogs import WebhookDialog
from gpuwatch_desktop.ui.channels_editor import ChannelsEditor
from gpuwatch_desktop.ui.settings_controller import SettingsController
from gpuwatch_desktop.ui.settings_dialog import SettingsDialog
from tests.unit.test_secrets import MemoryKeyring

SERVICE = "gpuwatch"


class AppSide:
    """What app.py does around the controller (its docstring's wiring), with a dispatcher that groups quickly."""

    def __init__(self, tmp_path: Path, backend: KeyringBackend, settings: Settings) -> None:
        self.settings = settings
        self.config_path = tmp_path / "settings.json"
        self.secrets = SecretStore(SERVICE, backend)
        self.dispatcher: NotificationDispatcher | None = None
        self.window = QMainWindow()
        self.ui = SettingsController(
            lambda: self.settings, self.config_path, self.secrets, apply_settings=self._apply_settings,
            restart_notifications=self._restart_notifications, dispatcher=lambda: self.dispatcher,
            window=lambda: self.window)

    async def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings

    async def _restart_notifications(self, channels: Sequence[ChannelConfig]) -> dict[str, str]:
        if self.dispatcher is not None:
            await self.dispatcher.aclose()
        built, problems = await asyncio.to_thread(build_channels, channels, self.secrets)
        self.dispatcher = NotificationDispatcher(
            built, group_wait_s=0.05, group_interval_s=0.2, retry=RetryPolicy(0.05, 0.2, 3),
            on_status_changed=self.ui.on_status_changed)
        asyncio.get_running_loop().create_task(self.dispatcher.run(), name="notifications")
        return problems

    async def open(self) -> tuple[SettingsDialog, ChannelsEditor]:
        await self.ui.open_dialog()  # returns once the keyring facts are shown
        assert self.ui.dialog is not None and self.ui.dialog.isVisible()
        return self.ui.dialog, self.ui.dialog.channels_editor

    async def ok(self, dialog: SettingsDialog) -> str:
        """Click OK and wait for the save to finish; the status bar's message."""
        self.window.statusBar().clearMessage()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        assert self.ui.dialog is None
        await until(lambda: self.window.statusBar().currentMessage())
        return self.window.statusBar().currentMessage()

    def saved_text(self) -> str:
        return self.config_path.read_text(encoding="utf-8")


def run(qtbot: QtBot, tmp_path: Path, scenario: Callable[[AppSide], Coroutine[Any, Any, None]],
        backend: KeyringBackend | None = None, settings: Settings | None = None) -> None:
    loop = qasync.QEventLoop(QApplication.instance())
    app = AppSide(tmp_path, backend if backend is not None else MemoryKeyring(), settings or Settings())

    async def main(app: AppSide) -> None:
        if app.settings.channels:
            await app._restart_notifications(app.settings.channels)
        try:
            await scenario(app)
        finally:
            if app.ui.dialog is not None:
                app.ui.dialog.reject()
            if app.dispatcher is not None:
                await app.dispatcher.aclose()

    try:
        with loop:
            loop.run_until_complete(main(app))
    finally:
        # The app side holds itself through the controller's callbacks: free that cycle here, on the GUI thread,
        # not whenever the garbage collector next runs (maybe in a worker thread, where Qt objects must not die).
        app.window.close()
        del app
        gc.collect()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def add_webhook(editor: ChannelsEditor, name: str, url: str) -> None:
    editor.add_webhook_button.click()
    dialog = editor.dialog
    assert isinstance(dialog, WebhookDialog)
    dialog.name_edit.setText(name)
    dialog.secret_edit.setText(url)
    dialog.ok_button.click()


def fired() -> AlertEvent:
    return AlertEvent(time.time(), "hot", "GPU too hot", "node-1", 0, AlertState.FIRING, AlertState.PENDING,
                      Severity.CRITICAL, 91.0, "GPU too hot on node-1 GPU 0", False)
