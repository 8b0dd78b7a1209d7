"""The RunPod and Provision tabs, built and wired in one place for the composition root.

Wiring in ``ui/app.py``::

    from gpuwatch_desktop.ui.cloud_install import CloudTabs

    # _build_window, after the alerts view:
    self.cloud = CloudTabs(self.window, self.secrets, lambda: self.settings, self.settings_ui.save,
                           self.data_dir(), self.config_path.parent, theme_named(self.settings.theme), parent=self)
    # start(), after _build_window:
    await self.cloud.start()
    # shutdown, right after ``await self.settings_ui.aclose()``:
    if self.cloud is not None:
        await self.cloud.aclose()

A cluster's nodes (after apply) and a watched RunPod pod are saved through ``save_settings`` (the settings
controller's ``save``: file, then the running app), so they survive a restart and polling starts at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from gpuwatch_desktop.config.prices import PRICES_FILE, load_prices
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError
from gpuwatch_desktop.services.provision_service import ProvisionService
from gpuwatch_desktop.services.runpod_account import RunPodAccount
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.provision_controller import ProvisionController
from gpuwatch_desktop.ui.provision_panels import price_estimate
from gpuwatch_desktop.ui.provision_view import ProvisionView
from gpuwatch_desktop.ui.runpod_controller import RunPodController, SaveSettings
from gpuwatch_desktop.ui.runpod_view import RunPodView
from gpuwatch_desktop.ui.theme import Theme


def is_cluster_node(name: str, cluster: str) -> bool:
    """Whether a node name is one the Terraform module gives a pod of ``cluster`` (``<cluster>-head``,
    ``<cluster>-worker-<n>``)."""
    return re.fullmatch(rf"{re.escape(cluster)}-(?:head|worker-\d+)", name) is not None


def with_cluster_nodes(settings: Settings, cluster: str, nodes: tuple[NodeConfig, ...]) -> Settings:
    """``settings`` with ``cluster``'s nodes replaced by ``nodes`` (none: the cluster is no longer watched)."""
    names = {n.name for n in nodes}
    kept = tuple(n for n in settings.nodes if n.name not in names and not is_cluster_node(n.name, cluster))
    return settings.with_nodes((*kept, *nodes))


def read_prices(config_dir: Path) -> tuple[dict[str, float], str]:
    """The price table and a note for the form: where it comes from, or why the user's copy was not used."""
    user_file = config_dir / PRICES_FILE
    try:
        prices = load_prices(config_dir)
    except ConfigError as exc:
        try:
            return load_prices(None), f"Your price table was not used ({exc}); these are the shipped prices."
        except ConfigError as shipped:
            return {}, f"No GPU prices: {shipped}"
    where = f"your {user_file}" if user_file.exists() else (
        f"the shipped table; put a copy at {user_file} to match what you pay")
    return prices, f"GPU prices ($/GPU/h) from {where}. Estimates only: RunPod bills its own prices."


class CloudTabs(QObject):
    """The RunPod tab (account view) and the Provision tab (Terraform), their services and controllers."""

    def __init__(self, window: MainWindow, secrets: SecretStore, settings: Callable[[], Settings],
                 save_settings: SaveSettings, data_dir: Path, config_dir: Path, theme: Theme,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._secrets = secrets
        self._settings = settings
        self._save_settings = save_settings
        self._data_dir = data_dir
        self._config_dir = config_dir
        self.account = RunPodAccount(secrets)
        self.runpod_view = RunPodView(theme)
        window.add_view(self.runpod_view, "RunPod")
        self.runpod = RunPodController(self.account, self.runpod_view, settings, save_settings, parent=self)
        self.provision_view = ProvisionView({}, price_estimate({}), theme, "Reading the GPU price table…")
        window.add_view(self.provision_view, "Provision")
        self.provision: ProvisionController | None = None

    async def start(self, terraform_path: str | None = None) -> None:
        """Read the price table, then start the provisioning side (its cluster list loads in the background)."""
        prices, note = await asyncio.to_thread(read_prices, self._config_dir)
        service = ProvisionService(self._data_dir, self._secrets, prices, self.set_cluster_nodes, terraform_path)
        try:
            binary = await asyncio.to_thread(service.find_binary)
            note += f"\nTerraform: {binary}"
        except GpuwatchError as exc:
            note += f"\n{exc}"
        self.provision_view.set_prices(prices, service.estimate_cost, note)
        self.provision = ProvisionController(service, self.provision_view, self._secrets, parent=self)
        self.provision.start()

    async def set_cluster_nodes(self, cluster: str, nodes: tuple[NodeConfig, ...]) -> None:
        """The service's ``set_cluster_nodes``: save and apply the settings with ``cluster``'s nodes replaced."""
        await self._save_settings(with_cluster_nodes(self._settings(), cluster, nodes), {}, {})

    async def aclose(self) -> None:
        """Interrupt a running Terraform (waiting for its state lock), stop polling RunPod, close clients."""
        if self.provision is not None:
            await self.provision.aclose()
        await self.runpod.aclose()
