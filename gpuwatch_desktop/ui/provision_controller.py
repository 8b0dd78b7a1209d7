"""Runs what the Provision tab asks through the provisioning service: plan, apply, destroy (after the view's
question), cancel, and the pods of a cluster. One run at a time; every failure ends in the view's banner.

Wiring, in the composition root::

    service = ProvisionService(data_dir, secrets, prices, set_cluster_nodes)
    view = ProvisionView(prices, service.estimate_cost, theme, prices_note)
    window.add_view(view, "Provision")
    controller = ProvisionController(service, view, secrets, parent=self)
    controller.start()  # lists the clusters and shows the pods of the first one, in the background
    ...
    await controller.aclose()  # at shutdown: interrupts a running Terraform and waits for its state lock
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError
from gpuwatch_desktop.core.errors import GpuwatchError
from gpuwatch_desktop.provisioning.model import (
    HF_TOKEN_SECRET,
    ClusterSpec,
    PlanSummary,
    PodInfo,
    Progress,
    ProvisioningError,
    RunResult,
)
from gpuwatch_desktop.ui.provision_view import RUN_WORDS, ProvisionView

log = logging.getLogger(__name__)
OnProgress = Callable[[Progress], None]


class ProvisionBackend(Protocol):
    """What the controller needs of ``services.provision_service.ProvisionService``."""

    @property
    def busy(self) -> bool: ...
    async def plan(self, spec: ClusterSpec, on_progress: OnProgress) -> PlanSummary: ...
    async def apply(self, on_progress: OnProgress) -> RunResult: ...
    async def destroy_preview(self, cluster: str) -> tuple[tuple[PodInfo, ...], float]: ...
    async def destroy(self, cluster: str, on_progress: OnProgress) -> RunResult: ...
    async def cancel(self) -> None: ...
    async def pods(self, cluster: str) -> tuple[PodInfo, ...]: ...
    def clusters(self) -> list[str]: ...


class ProvisionController(QObject):
    _progressArrived = Signal(object)  # Progress, from whichever thread the service reports on

    def __init__(self, service: ProvisionBackend, view: ProvisionView, secrets: SecretStore | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._view = view
        self._secrets = secrets  # for the Hugging Face token typed in the form
        self._run: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._progressArrived.connect(view.show_progress)
        self._connections = [
            view.planRequested.connect(self._on_plan_requested),
            view.applyRequested.connect(self._on_apply_requested),
            view.cancelRequested.connect(self._on_cancel_requested),
            view.destroyRequested.connect(self._on_destroy_requested),
            view.destroyConfirmed.connect(self._on_destroy_confirmed),
            view.clusterChosen.connect(self._on_cluster_chosen),
        ]

    @property
    def busy(self) -> bool:
        """Whether a run or a look-up is still going."""
        return bool(self._tasks)

    def start(self) -> None:
        """List the clusters that exist and show the pods of the first one (in the background)."""
        self._start(self._load(), "provision-load")

    async def _load(self) -> None:
        if self._secrets is not None:
            try:
                stored = await asyncio.to_thread(self._secrets.get, HF_TOKEN_SECRET)
            except SecretStoreError:
                stored = None
            self._view.form.show_hf_token_state(stored is not None)
        clusters = await self._refresh_clusters()
        if clusters:
            self._view.form.name_combo.setEditText(clusters[0])
            await self._show_pods(clusters[0])

    def _report(self, progress: Progress) -> None:
        self._progressArrived.emit(progress)

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: its type only, the text might hold a secret from Terraform's environment
            log.error("%s failed: %s", task.get_name(), type(error).__name__)
            self._view.set_running(None)
            self._view.show_run_error(f"Provisioning: unexpected {type(error).__name__}; see the log file.")

    def _start_run(self, kind: str, cluster: str, work: Callable[[], Awaitable[None]]) -> None:
        """One run at a time: a second one gets a message instead of a start."""
        if (self._run is not None and not self._run.done()) or self.service.busy:
            self._view.show_error("A Terraform run is already going: wait for it to end, or press Cancel.")
            return
        self._run = self._start(self._guarded(kind, work), f"provision-{kind}:{cluster}")

    async def _guarded(self, kind: str, work: Callable[[], Awaitable[None]]) -> None:
        self._view.set_running(kind)
        try:
            await work()
        except GpuwatchError as exc:
            self._view.show_run_error(f"{RUN_WORDS.get(kind, kind)} stopped: {exc}")
        finally:
            self._view.set_running(None)

    def _on_plan_requested(self, spec: ClusterSpec) -> None:
        token = self._view.form.take_hf_token()

        async def plan() -> None:
            if token:
                await self._store_hf_token(token)
            summary = await self.service.plan(spec, self._report)
            self._view.show_plan(spec, summary)

        self._start_run("plan", spec.name, plan)

    async def _store_hf_token(self, token: str) -> None:
        if self._secrets is None:
            raise ProvisioningError("the Hugging Face token cannot be kept: no keyring here")
        await asyncio.to_thread(self._secrets.set, HF_TOKEN_SECRET, token)  # SecretStoreError: shown, no plan
        self._view.form.show_hf_token_state(True)

    def _on_apply_requested(self) -> None:
        spec = self._view.planned_spec
        if spec is None:
            self._view.show_error("Press Plan first: Apply carries out the plan shown.")
            return

        async def apply() -> None:
            result = await self.service.apply(self._report)
            self._view.show_result("apply", result)
            self._view.show_pods(spec.name, result.pods)
            await self._refresh_clusters()

        self._start_run("apply", spec.name, apply)

    def _on_destroy_requested(self, cluster: str) -> None:
        self._start(self._ask_destroy(cluster), f"provision-destroy-preview:{cluster}")

    async def _ask_destroy(self, cluster: str) -> None:
        try:
            pods, cost = await self.service.destroy_preview(cluster)
        except GpuwatchError as exc:
            self._view.show_error(f"Cannot tell what destroying {cluster} would remove: {exc}")
            return
        self._view.confirm_destroy(cluster, pods, cost)

    def _on_destroy_confirmed(self, cluster: str) -> None:
        async def destroy() -> None:
            result = await self.service.destroy(cluster, self._report)
            self._view.show_result("destroy", result)
            self._view.show_pods(cluster, result.pods)
            await self._refresh_clusters()

        self._start_run("destroy", cluster, destroy)

    def _on_cancel_requested(self) -> None:
        if self._run is None or self._run.done():
            return
        self._view.status_label.setText("Cancelling: waiting for Terraform to stop and release the state lock…")
        self._view.cancel_button.setEnabled(False)
        self._start(self._cancel(), "provision-cancel")

    async def _cancel(self) -> None:
        try:
            await self.service.cancel()
        except GpuwatchError as exc:
            self._view.show_error(f"Cancel failed: {exc}")

    def _on_cluster_chosen(self, cluster: str) -> None:
        if self._view.running is None:
            self._start(self._show_pods(cluster), f"provision-pods:{cluster}")

    async def _show_pods(self, cluster: str) -> None:
        try:
            pods = await self.service.pods(cluster)
        except GpuwatchError as exc:
            self._view.show_error(f"Cannot read the pods of {cluster}: {exc}")
            return
        self._view.show_pods(cluster, pods)

    async def _refresh_clusters(self) -> list[str]:
        clusters = await asyncio.to_thread(self.service.clusters)
        self._view.set_clusters(clusters)
        return clusters

    async def aclose(self) -> None:
        """Interrupt a running Terraform (it saves its state and unlocks), then end every task; the view's requests
        no longer reach this controller."""
        for connection in self._connections:
            QObject.disconnect(connection)
        self._connections.clear()
        if self._run is not None and not self._run.done():
            try:
                await self.service.cancel()
            except GpuwatchError as exc:
                log.warning("could not cancel the Terraform run at shutdown: %s", exc)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
