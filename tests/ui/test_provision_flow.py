"""The Provision tab end to end: the real ProvisionService driving the fake `terraform` executable (a real
subprocess following Terraform's CLI and -json contract), secrets in an in-memory keyring, on a qasync loop."""

from __future__ import annotations

import gc
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.ui.cloud_install import CloudTabs, is_cluster_node, with_cluster_nodes
from gpuwatch_desktop.ui.main_window import MainWindow
from gpuwatch_desktop.ui.pod_dialogs import accept_button
from gpuwatch_desktop.ui.provision_view import ProvisionView
from gpuwatch_desktop.ui.theme import DARK
from tests.ui.test_channels_support import SERVICE, until
from tests.unit.test_secrets import MemoryKeyring

FAKE_TERRAFORM = Path(__file__).resolve().parents[1] / "fake_terraform" / "terraform"
KEY = "rp-flow-key-77"
KNOBS = ("FAKE_TF_FAIL_ON", "FAKE_TF_SLOW_S", "FAKE_TF_NETWORK_DOWN", "FAKE_TF_NETWORK_DOWN_AFTER", "FAKE_TF_STUCK")


class Side:
    """What app.py does around the tabs: settings held in memory, saved by a stand-in for the settings
    controller's ``save`` that applies them and writes the secrets to the keyring."""

    def __init__(self, window: MainWindow, tmp_path: Path, backend: MemoryKeyring) -> None:
        self.settings = Settings(nodes=(NodeConfig("mine", "http://10.0.0.5:9400/metrics"),))
        self.saves = 0
        self.backend = backend
        self.cloud = CloudTabs(window, SecretStore(SERVICE, backend), lambda: self.settings, self._save,
                               tmp_path / "data", tmp_path / "config", DARK, parent=None)
        self.view: ProvisionView = self.cloud.provision_view

    async def _save(self, settings: Settings, updates: Mapping[str, str | None], moves: Mapping[str, str]) -> None:
        self.saves += 1
        self.settings = settings

    async def idle(self) -> None:
        controller = self.cloud.provision
        assert controller is not None
        await until(lambda: not controller.busy and self.view.running is None, timeout=60)

    def fill(self, workers: int = 1) -> None:
        form = self.view.form
        form.name_combo.setEditText("lab")
        form.gpu_combo.setCurrentIndex(form.gpu_combo.findData("NVIDIA L40S"))
        form.gpu_count_spin.setValue(2)
        form.workers_spin.setValue(workers)

    async def plan(self) -> None:
        self.view.plan_button.click()
        await self.idle()


def run(window: MainWindow, tmp_path: Path, scenario: Callable[[Side], Coroutine[Any, Any, None]],
        backend: MemoryKeyring) -> None:
    loop = qasync.QEventLoop(QApplication.instance())
    side = Side(window, tmp_path, backend)

    async def main(side: Side) -> None:
        try:
            await side.cloud.start(terraform_path=str(FAKE_TERRAFORM))
            await side.idle()
            await scenario(side)
        finally:
            await side.cloud.aclose()

    try:
        with loop:
            loop.run_until_complete(main(side))
    finally:
        del side
        gc.collect()


@pytest.fixture
def keyring_with_key(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    for knob in KNOBS:
        monkeypatch.delenv(knob, raising=False)
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "runpod-api-key", KEY)
    return backend


def test_plan_apply_watch_then_destroy(window: MainWindow, tmp_path: Path, keyring_with_key: MemoryKeyring) -> None:
    async def scenario(side: Side) -> None:
        view = side.view
        assert "Terraform: " in view.prices_label.text() and not view.destroy_button.isEnabled()
        side.fill(workers=1)
        assert view.form.estimate_label.text().startswith("Estimated $3.44/h")  # 2 pods × 2 × $0.86
        view.form.hf_token_edit.setText("hf_gated_secret_9")
        await side.plan()
        assert side.backend.items[(SERVICE, "hf-token")] == "hf_gated_secret_9"
        assert view.form.hf_token_edit.text() == "" and "stored" in view.form.hf_token_edit.placeholderText()
        assert view.plan_panel.summary_label.text() == ("Plan: 4 to add, 0 to change, 0 to destroy. After apply "
                                                        "the cluster costs about $3.44/h.")
        assert view.apply_button.isEnabled()
        view.apply_button.click()
        await side.idle()
        assert view.status_label.text().startswith("Cluster 'lab' is up: 2 pod(s) exist now")
        assert view.progress_bar.value() == view.progress_bar.maximum() == 4
        assert "runpod_pod.head: Creation complete" in view.log_edit.toPlainText()
        assert KEY not in view.log_edit.toPlainText() and "hf_gated_secret_9" not in view.log_edit.toPlainText()
        assert view.pods_panel.cost_label.text() == "Cluster “lab”: 2 pods running · $3.44/h"
        assert [n.name for n in side.settings.nodes] == ["mine", "lab-head", "lab-worker-1"]
        head = side.settings.nodes[1]
        assert head.url.endswith("-9400.proxy.runpod.net/metrics") and head.logs_url.endswith("-8002.proxy.runpod.net")
        assert side.backend.items[(SERVICE, "node-token:lab-head")]
        assert view.clusters == ["lab"] and view.destroy_button.isEnabled()

        view.destroy_button.click()
        await until(lambda: view.confirmation is not None)
        assert view.confirmation is not None
        text = view.confirmation.text()
        assert text.startswith("Destroy cluster “lab”? This terminates 2 pods and stops $3.44/h:")
        assert "• lab-head (" in text and "• lab-worker-1 (" in text
        accept_button(view.confirmation).click()  # type: ignore[attr-defined]
        await side.idle()
        assert view.status_label.text() == "Cluster 'lab' destroyed: 2 pod(s) removed."
        assert [n.name for n in side.settings.nodes] == ["mine"]
        assert (SERVICE, "node-token:lab-head") not in side.backend.items
        assert view.pods_panel.cost_label.text() == "Cluster “lab”: no pods."
        assert view.clusters == [] and not view.destroy_button.isEnabled()

    run(window, tmp_path, scenario, keyring_with_key)


def test_cancel_during_apply_ends_cleanly_and_says_what_exists(window: MainWindow, tmp_path: Path,
                                                               keyring_with_key: MemoryKeyring,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TF_SLOW_S", "5")

    async def scenario(side: Side) -> None:
        view = side.view
        side.fill(workers=2)
        await side.plan()
        view.apply_button.click()
        await until(lambda: "runpod_pod.head: Creating..." in view.log_edit.toPlainText(), timeout=30)
        assert view.cancel_button.isEnabled() and not view.plan_button.isEnabled()
        view.plan_button.click()  # disabled: nothing happens
        view.planRequested.emit(view.form.spec())  # and were it asked anyway, a second run is refused
        assert view.banner.text() == "A Terraform run is already going: wait for it to end, or press Cancel."
        view.cancel_button.click()
        await side.idle()
        assert view.status_label.text().startswith("Apply cancelled;")
        assert "Plan and apply again to finish, or destroy the cluster" in view.status_label.text()
        assert not (tmp_path / "data" / "clusters" / "lab" / ".terraform.tfstate.lock.info").exists()
        assert [n.name for n in side.settings.nodes] == ["mine"]  # a half-made cluster is not watched

    run(window, tmp_path, scenario, keyring_with_key)


def test_without_an_api_key_plan_says_so(window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for knob in KNOBS:
        monkeypatch.delenv(knob, raising=False)

    async def scenario(side: Side) -> None:
        side.fill()
        await side.plan()
        assert view_banner(side.view).startswith("Planning stopped: No RunPod API key")
        assert not side.view.apply_button.isEnabled()

    run(window, tmp_path, scenario, MemoryKeyring())


def test_a_missing_terraform_is_named_with_how_to_install_it(window: MainWindow, tmp_path: Path,
                                                             keyring_with_key: MemoryKeyring) -> None:
    async def scenario(side: Side) -> None:
        await side.cloud.aclose()
        await side.cloud.start(terraform_path=str(tmp_path / "no-such-terraform"))
        assert "was not found or is not executable" in side.view.prices_label.text()
        side.fill()
        await side.plan()
        assert "Terraform program" in view_banner(side.view) and "was not found" in view_banner(side.view)

    run(window, tmp_path, scenario, keyring_with_key)


def view_banner(view: ProvisionView) -> str:
    return "" if view.banner.isHidden() else view.banner.text()


def test_cluster_nodes_replace_only_that_clusters_pods() -> None:
    settings = Settings(nodes=(NodeConfig("mine", "http://h:9400/metrics"),
                               NodeConfig("lab-head", "http://old:9400/metrics"),
                               NodeConfig("lab-worker-3", "http://old3:9400/metrics"),
                               NodeConfig("labs-head", "http://other:9400/metrics")))
    new = (NodeConfig("lab-head", "https://p1-9400.proxy.runpod.net/metrics"),)
    assert [(n.name, n.url) for n in with_cluster_nodes(settings, "lab", new).nodes] == [
        ("mine", "http://h:9400/metrics"), ("labs-head", "http://other:9400/metrics"),
        ("lab-head", "https://p1-9400.proxy.runpod.net/metrics")]
    assert [n.name for n in with_cluster_nodes(settings, "lab", ()).nodes] == ["mine", "labs-head"]
    assert is_cluster_node("lab-worker-12", "lab") and not is_cluster_node("lab-worker-x", "lab")
