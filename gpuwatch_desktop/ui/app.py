"""The composition root: builds every piece in order, runs the Qt + asyncio loop, shuts down in reverse.

The window is shown and drawn first; what its first frame does not need (storage, alerting, the services, the
hidden tabs' views) is imported and built after that frame, so the app appears sooner (bench/startup.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from gpuwatch_desktop.cli import AppOptions
from gpuwatch_desktop.config.channels import ChannelConfig
from gpuwatch_desktop.config.paths import default_config_path, default_data_dir, history_db_path
from gpuwatch_desktop.config.settings import Settings, load_settings
from gpuwatch_desktop.core.alerts import AlertState, Silence
from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError, StorageError
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.ui.bridge import StateBridge
from gpuwatch_desktop.ui.chat_dock import ChatDock, dock_chat
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.startup_probe import first_frame
from gpuwatch_desktop.ui.theme import apply_theme, theme_named
from gpuwatch_desktop.ui.tray import AlertNotifier

if TYPE_CHECKING:  # imported where they are used, after the window's first frame (httpx, keyring, YAML, agent, ...)
    from gpuwatch_desktop.alerts.notify.dispatcher import NotificationDispatcher
    from gpuwatch_desktop.config.secrets import SecretStore
    from gpuwatch_desktop.services.alerts_service import AlertService
    from gpuwatch_desktop.services.demo import DemoCluster
    from gpuwatch_desktop.services.history_worker import HistoryWorker
    from gpuwatch_desktop.services.logs_service import LogsService
    from gpuwatch_desktop.services.poller import Poller
    from gpuwatch_desktop.services.slurm_service import SlurmService
    from gpuwatch_desktop.ui.chat_controller import ChatController
    from gpuwatch_desktop.ui.cloud_install import CloudTabs
    from gpuwatch_desktop.ui.logs_controller import LogsController
    from gpuwatch_desktop.ui.settings_controller import SettingsController

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 600.0
MUTE_S = 3600.0
FIRST_FRAME_WAIT_S = 1.0  # the longest start() waits for the window's first frame (a minimised one may get none)
LATER_TABS = ("Alerts", "Slurm", "Logs", "RunPod", "Provision")  # titled in the first frame, views built after it


class AppController(QObject):
    """Owns the app's parts; ``start`` builds them in order and ``shutdown`` stops them in reverse."""

    def __init__(self, options: AppOptions, app: QApplication) -> None:
        super().__init__()
        self.options = options
        self.app = app
        self.config_path = options.config_path or default_config_path()
        self.settings = Settings()
        self.state = ClusterState()
        self.history: HistoryWorker | None = None
        self.poller: Poller | None = None
        self.secrets: SecretStore | None = None  # this, slurm, logs and settings_ui: made by _start_services
        self.alerts: AlertService | None = None
        self.dispatcher: NotificationDispatcher | None = None
        self.notifier: AlertNotifier | None = None
        self.chat: ChatController | None = None
        self.chat_dock: ChatDock | None = None
        self.slurm: SlurmService | None = None
        self.logs: LogsService | None = None
        self.logs_controller: LogsController | None = None
        self.demo: DemoCluster | None = None
        self.cloud: CloudTabs | None = None  # the RunPod and Provision tabs
        self.window: MainWindow | None = None
        self.bridge: StateBridge | None = None
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.quit_requested = asyncio.Event()
        self.settings_ui: SettingsController | None = None

    def data_dir(self) -> Path:
        return app_data_dir(self.options)

    async def start(self) -> None:
        """The window first (drawn before anything slower), then storage, alerting, the services, the rest of the
        window, the demo cluster and the background tasks."""
        self.settings = load_settings(self.config_path)
        apply_theme(self.app, theme_named(self.settings.theme))
        await first_frame(self._show_window(), FIRST_FRAME_WAIT_S)  # what follows imports and builds on this thread
        await self._open_history()
        self._start_services()
        await self._start_alerting()
        self._fill_window()
        if self.chat is not None:
            await self.chat.start()
        if self.cloud is not None:
            await self.cloud.start()
        if self.options.demo:
            from gpuwatch_desktop.services.demo import start_demo_cluster

            self.demo = await start_demo_cluster(self.options.demo_nodes, self.options.demo_scenarios)
        from gpuwatch_desktop.config.tls import shared_ssl_context

        await asyncio.to_thread(shared_ssl_context)  # the CA bundle every HTTPS client shares: loaded off this thread
        await self._apply_nodes()
        assert self.poller is not None and self.logs is not None
        self._start_task("poller", self.poller.run())
        self._start_task("logs", self.logs.run())
        if self.history is not None:
            self._start_task("retention", self._retention_loop())
        if self.options.exit_after_s is not None:
            QTimer.singleShot(int(self.options.exit_after_s * 1000), self._on_exit_timer)

    def _start_services(self) -> None:
        """The keyring, the poller, the Slurm and log services and the settings dialog's controller."""
        from gpuwatch_desktop.config.secrets import SecretStore
        from gpuwatch_desktop.services.logs_service import LogsService
        from gpuwatch_desktop.services.node_tokens import NodeTokens
        from gpuwatch_desktop.services.poller import Poller
        from gpuwatch_desktop.services.slurm_service import SlurmService
        from gpuwatch_desktop.ui.settings_controller import SettingsController

        secrets = self.secrets = SecretStore()
        self.poller = Poller(self.state, self.history.write_round if self.history else None,
                             interval_s=self.settings.poll_interval_s, timeout_s=self.settings.scrape_timeout_s,
                             tokens=NodeTokens(secrets))
        self.slurm = SlurmService(secrets)  # watches the first node with a Slurm URL (see _apply_nodes)
        self.logs = LogsService(secrets)  # every node's pod log server and vLLM's state (see _apply_nodes)
        self.settings_ui = SettingsController(
            lambda: self.settings, self.config_path, secrets, apply_settings=self._apply_settings,
            restart_notifications=self._restart_notifications, dispatcher=lambda: self.dispatcher,
            window=lambda: self.window, parent=self)

    async def _open_history(self) -> None:
        from gpuwatch_desktop.services.history_worker import HistoryWorker
        from gpuwatch_desktop.storage import HistoryStore

        path = history_db_path(self.data_dir())
        worker = HistoryWorker(lambda: HistoryStore(
            path,
            raw_retention_s=self.settings.raw_retention_h * 3600,
            rollup_retention_s=self.settings.rollup_retention_d * 86400,
        ))
        try:
            await worker.open()
        except (OSError, StorageError) as exc:
            self.state.set_storage_error(f"cannot open history database: {exc}")
            await worker.close()
            return
        self.history = worker

    async def _start_alerting(self) -> None:
        """Rules, events and notifications need the history database; without it the app only watches."""
        from gpuwatch_desktop.alerts.rules_file import default_rules
        from gpuwatch_desktop.config.prices import load_prices
        from gpuwatch_desktop.services.alerts_service import AlertService
        from gpuwatch_desktop.services.demo import demo_rules
        from gpuwatch_desktop.services.notifications import start_dispatcher

        if self.history is None:
            return
        assert self.secrets is not None and self.settings_ui is not None
        service = AlertService(self.state, self.history, defaults=demo_rules if self.options.demo else default_rules)
        try:
            service.engine.set_prices(await asyncio.to_thread(load_prices, self.config_path.parent))
        except ConfigError as exc:
            log.warning("GPU prices unavailable, idle alerts will not show a cost: %s", exc)
        try:
            await service.start()
        except StorageError as exc:
            self.state.set_storage_error(f"alerts unavailable: {exc}")
            return
        self.alerts = service
        self.dispatcher, _problems = await start_dispatcher(
            self.settings.channels, self.secrets, self.state, lambda: service.rules,
            self.settings_ui.on_status_changed)
        service.dispatcher = self.dispatcher
        self._start_task("notifications", self.dispatcher.run())

    def _build_notifier(self, bridge: StateBridge) -> None:
        assert self.window is not None
        window = self.window
        notifier = self.notifier = AlertNotifier(window.banner, parent=self)
        notifier.showWindowRequested.connect(window.bring_to_front)
        notifier.quitRequested.connect(window.quit_app)
        notifier.muteRequested.connect(self._on_mute_requested)
        window.hides_to_tray = self.settings.close_to_tray and notifier.tray is not None
        if self.alerts is not None:
            self.alerts.event_listeners.append(notifier.notify)
        bridge.alertsChanged.connect(self._on_alerts_changed)
        self._on_alerts_changed()

    def _build_alerts_view(self, bridge: StateBridge) -> None:
        from gpuwatch_desktop.ui.alerts_controller import AlertsController
        from gpuwatch_desktop.ui.alerts_view import AlertsView

        if self.alerts is None or self.window is None:
            return
        view = AlertsView(theme_named(self.settings.theme))
        self.window.add_view(view, "Alerts")
        self.alerts_controller = AlertsController(self.alerts, view, parent=self)
        bridge.alertsChanged.connect(self.alerts_controller.refresh)
        bridge.nodesChanged.connect(self.alerts_controller.refresh)
        self.alerts_controller.refresh()

    def _build_slurm_view(self) -> None:
        from gpuwatch_desktop.ui.slurm_controller import SlurmController
        from gpuwatch_desktop.ui.slurm_view import SlurmView

        assert self.window is not None and self.settings_ui is not None and self.slurm is not None
        view = SlurmView(theme_named(self.settings.theme))
        view.settingsRequested.connect(self.settings_ui.open_dialog)
        self.window.add_view(view, "Slurm")
        self.slurm_controller = SlurmController(self.slurm, view, parent=self)

    def _build_logs_view(self) -> None:
        from gpuwatch_desktop.ui.logs_controller import LogsController
        from gpuwatch_desktop.ui.logs_view import LogsView

        assert self.window is not None and self.settings_ui is not None and self.logs is not None
        view = LogsView(theme_named(self.settings.theme))
        view.settingsRequested.connect(self.settings_ui.open_dialog)
        self.window.add_view(view, "Logs")
        self.logs_controller = LogsController(self.logs, view, parent=self)

    def _on_alerts_changed(self) -> None:
        alerts = self.state.alerts
        if self.notifier is not None:
            self.notifier.show_alerts(alerts)
        if self.window is not None:
            self.window.set_alert_count(sum(1 for a in alerts if a.state is AlertState.FIRING))

    @qasync.asyncSlot()
    async def _on_mute_requested(self) -> None:
        if self.alerts is None:
            return
        now = time.time()
        await self.alerts.add_silence(Silence(uuid.uuid4().hex, None, None, now, now + MUTE_S,
                                              "muted for 1 h from the tray", "tray"))

    def _show_window(self) -> MainWindow:
        """The window as its first frame shows it: the Cluster tab, the other tabs' titles and the assistant dock."""
        self.bridge = StateBridge(self.state, self)
        layout_store = QSettings(str(self.config_path.with_name("layout.ini")), QSettings.Format.IniFormat)
        title = f"demo cluster ({self.options.demo_nodes} nodes)" if self.options.demo else ""
        window = self.window = MainWindow(self.state, self.bridge, theme_named(self.settings.theme), layout_store,
                                          title)
        window.reserve_views(LATER_TABS)
        self.chat_dock = dock_chat(window, theme_named(self.settings.theme))
        window.closing.connect(self.quit_requested.set)
        window.restore_layout()
        window.show()
        window._on_storage_changed()
        return window

    def _fill_window(self) -> None:
        """What the first frame did not need: history ranges, the tray, the other tabs' views, the settings dialog
        and the assistant's controller."""
        from gpuwatch_desktop.services.agent_data import AppClusterData
        from gpuwatch_desktop.ui.chat_install import connect_chat_dock
        from gpuwatch_desktop.ui.cloud_install import CloudTabs
        from gpuwatch_desktop.ui.history_controller import HistoryController

        window, bridge, dock = self.window, self.bridge, self.chat_dock
        assert window is not None and bridge is not None and dock is not None
        assert self.secrets is not None and self.settings_ui is not None
        if self.history is not None:
            self.history_controller = HistoryController(self.history, window.detail, self)
        self._build_notifier(bridge)
        self._build_alerts_view(bridge)
        self._build_slurm_view()
        self._build_logs_view()
        self.cloud = CloudTabs(window, self.secrets, lambda: self.settings, self.settings_ui.save,
                               self.data_dir(), self.config_path.parent, theme_named(self.settings.theme), parent=self)
        window.drop_unfilled_views()  # Alerts, when there is no history database
        window.settingsRequested.connect(self.settings_ui.open_dialog)
        self.chat = connect_chat_dock(dock, self.history, lambda: self.settings.llm, self.secrets,
                                      AppClusterData(self.state, self.history, self.alerts, slurm=self.slurm,
                                                     logs=self.logs), parent=self)

    async def _apply_nodes(self) -> None:
        assert self.poller is not None and self.slurm is not None and self.logs is not None
        demo_nodes = tuple(self.demo.nodes) if self.demo else ()
        await self.poller.set_nodes((*self.settings.nodes, *demo_nodes))
        await self.slurm.set_nodes((*self.settings.nodes, *demo_nodes))
        await self.logs.set_nodes((*self.settings.nodes, *demo_nodes), list_now=False)  # listed in its task

    def _start_task(self, name: str, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine, name=name)  # type: ignore[arg-type]
        self.tasks[name] = task
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def _retention_loop(self) -> None:
        assert self.history is not None
        while True:
            try:
                await self.history.apply_retention(time.time())
                if self.alerts is not None:
                    await self.alerts.prune(time.time())
            except StorageError as exc:
                self.state.set_storage_error(str(exc))
            await asyncio.sleep(RETENTION_EVERY_S)

    def _on_exit_timer(self) -> None:
        shot = self.options.screenshot
        if shot is not None and self.window is not None and not self.window.grab().save(str(shot), "PNG"):
            log.error("could not save the screenshot to %s", shot)
        self.quit_requested.set()

    async def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        assert self.poller is not None
        await self.poller.set_timing(settings.poll_interval_s, settings.scrape_timeout_s)
        if self.window is not None and self.notifier is not None:
            self.window.hides_to_tray = settings.close_to_tray and self.notifier.tray is not None
        if self.chat is not None:
            self.chat.settings_changed()
        await self._apply_nodes()

    async def _restart_notifications(self, channels: Sequence[ChannelConfig]) -> dict[str, str]:
        from gpuwatch_desktop.services.notifications import start_dispatcher

        if self.alerts is None or self.secrets is None or self.settings_ui is None:
            return {}
        service = self.alerts
        if self.dispatcher is not None:
            await self.dispatcher.aclose()  # ends its "notifications" task; unsent messages are dropped
        self.dispatcher, problems = await start_dispatcher(
            channels, self.secrets, self.state, lambda: service.rules, self.settings_ui.on_status_changed)
        service.dispatcher = self.dispatcher
        self._start_task("notifications", self.dispatcher.run())
        return problems

    async def shutdown(self) -> None:
        """Stop polling first, then storage, then the demo exporters; save the layout."""
        for task in reversed(list(self.tasks.values())):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        if self.cloud is not None:  # first: a Terraform run being interrupted may still save the cluster's nodes
            await self.cloud.aclose()
        if self.settings_ui is not None:
            await self.settings_ui.aclose()
        if self.chat is not None:
            await self.chat.aclose()
        if self.slurm is not None:
            await self.slurm.aclose()
        if self.logs_controller is not None:
            await self.logs_controller.aclose()
        if self.logs is not None:
            await self.logs.aclose()
        if self.poller is not None:
            await self.poller.aclose()
        if self.alerts is not None:
            await self.alerts.aclose()
        if self.dispatcher is not None:
            await self.dispatcher.aclose()
        if self.notifier is not None:
            self.notifier.hide()
        if self.history is not None:
            await self.history.close()
        if self.demo is not None:
            await asyncio.to_thread(self.demo.stop)
        if self.window is not None and self.window.isVisible():
            self.window.save_layout()
            self.window.hide()

    async def run(self) -> int:
        try:
            await self.start()
        except (ConfigError, GpuwatchError) as exc:
            print(f"gpuwatch: {exc}", file=sys.stderr)
            await self.shutdown()
            return 2
        await self.quit_requested.wait()
        await self.shutdown()
        return 0


def app_data_dir(options: AppOptions) -> Path:
    if options.data_dir is not None:
        return options.data_dir
    return default_data_dir() / "demo" if options.demo else default_data_dir()
