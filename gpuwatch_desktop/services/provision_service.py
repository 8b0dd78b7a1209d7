"""Provisioning: plan, apply, destroy and cancel a RunPod cluster through Terraform, then watch its pods.

After a complete apply the cluster's nodes (proxy URLs; the generated pod token in the keyring as
``node-token:<pod name>``) are built from ``terraform output -json`` and handed to ``set_cluster_nodes``, which
configures and polls them; after a destroy the cluster's nodes are removed the same way (an empty tuple).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError, node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError
from gpuwatch_desktop.provisioning import outputs
from gpuwatch_desktop.provisioning.model import (
    HF_TOKEN_SECRET,
    ClusterSpec,
    PlanSummary,
    PodInfo,
    Progress,
    ProgressKind,
    ProvisioningError,
    RunResult,
)
from gpuwatch_desktop.provisioning.runpod_api import RUNPOD_API_KEY_SECRET
from gpuwatch_desktop.provisioning.terraform import RunOutcome, TerraformRunner, find_terraform
from gpuwatch_desktop.provisioning.workspace import PLAN_FILE, TFVARS_FILE, Workspace, list_clusters

ProgressCallback = Callable[[Progress], None]
SetClusterNodes = Callable[[str, tuple[NodeConfig, ...]], Awaitable[None]]
PLUGIN_CACHE_DIR = "terraform-plugins"  # shared by every cluster dir, so providers download once


def nodes_of(pods: Sequence[PodInfo]) -> tuple[NodeConfig, ...]:
    """The watched nodes of a cluster's pods: GPU metrics, log server and (head) Slurm exporter via the proxy."""
    return tuple(
        NodeConfig(
            name=pod.name,
            url=pod.urls[outputs.PORT_GPU_METRICS] + "/metrics",
            logs_url=pod.urls.get(outputs.PORT_LOGS, ""),
            slurm_url=pod.urls.get(outputs.PORT_SLURM, ""),
        )
        for pod in pods
        if outputs.PORT_GPU_METRICS in pod.urls
    )


class ProvisionService:
    """One Terraform run at a time over the per-cluster work dirs under ``data_dir/clusters``."""

    def __init__(
        self,
        data_dir: Path,
        secrets: SecretStore,
        prices: Mapping[str, float],
        set_cluster_nodes: SetClusterNodes,
        terraform_path: str | None = None,
        *,
        interrupt_grace_s: float = 600.0,
    ) -> None:
        self._data_dir = data_dir
        self._secrets = secrets
        self._prices = prices
        self._set_cluster_nodes = set_cluster_nodes
        self._terraform_path = terraform_path
        self._interrupt_grace_s = interrupt_grace_s
        self._runners: dict[str, TerraformRunner] = {}
        self._active: TerraformRunner | None = None
        self._planned: tuple[ClusterSpec, int] | None = None  # the spec and resource count of the saved plan

    @property
    def busy(self) -> bool:
        return self._active is not None

    def find_binary(self) -> str:
        return find_terraform(self._terraform_path)

    def estimate_cost(self, spec: ClusterSpec) -> float:
        """Dollars per hour: the price table's GPU price x GPUs per pod x pods (0.0 when the GPU has no price)."""
        return self._prices.get(spec.gpu_type, 0.0) * spec.gpu_count * spec.pod_count

    def clusters(self) -> list[str]:
        return list_clusters(self._data_dir)

    async def plan(self, spec: ClusterSpec, on_progress: ProgressCallback) -> PlanSummary:
        """Plan ``spec`` (creating its work dir); the plan is saved for ``apply``."""
        try:
            spec.validate()
        except ConfigError as exc:
            raise ProvisioningError(str(exc)) from None
        self._planned = None
        env, secrets = await self._terraform_env()
        workspace = Workspace(self._data_dir, spec.name)
        runner = self._runner(workspace)
        async with self._running(runner):
            needs_init = await asyncio.to_thread(workspace.prepare, spec)
            await self._init_if_needed(runner, workspace, needs_init, env, on_progress, secrets)
            args = ["plan", "-input=false", "-json", f"-out={PLAN_FILE}", f"-var-file={TFVARS_FILE}"]
            outcome = await runner.run(args, env, on_progress, secrets=secrets)
        if outcome.cancelled:
            raise ProvisioningError("Plan cancelled; nothing was changed.")
        if not outcome.ok:
            raise ProvisioningError(f"Plan failed: {outcome.error_text()}")
        counts = outcome.counts
        self._planned = (spec, counts.get("add", 0) + counts.get("change", 0) + counts.get("remove", 0))
        return PlanSummary(
            changes=outcome.changes,
            add=counts.get("add", 0),
            change=counts.get("change", 0),
            remove=counts.get("remove", 0),
            cost_per_hour=self.estimate_cost(spec),
        )

    async def apply(self, on_progress: ProgressCallback) -> RunResult:
        """Apply the last plan; on success configure and watch the pods."""
        if self._planned is None:
            raise ProvisioningError("Nothing to apply: plan the cluster first.")
        spec, total = self._planned
        env, secrets = await self._terraform_env()
        workspace = Workspace(self._data_dir, spec.name)
        runner = self._runner(workspace)
        async with self._running(runner):
            if not workspace.has_plan():
                self._planned = None
                raise ProvisioningError("The saved plan is gone: plan the cluster again.")
            before = await self._state_pods(runner, workspace, env)
            self._planned = None  # a saved plan applies once
            try:
                outcome = await runner.run(["apply", "-input=false", "-json", PLAN_FILE], env, on_progress,
                                           total=total, secrets=secrets)
            finally:
                await asyncio.to_thread(workspace.remove_plan)
        pods = await self._state_pods(runner, workspace, env)
        message = await self._after_apply(spec.name, runner, env, outcome, before, pods)
        on_progress(Progress(ProgressKind.DONE, message, severity="" if outcome.ok else "error"))
        return RunResult(ok=outcome.ok, cancelled=outcome.cancelled, message=message, pods=pods)

    async def destroy_preview(self, cluster: str) -> tuple[tuple[PodInfo, ...], float]:
        """The pods a destroy would remove and what they cost per hour together."""
        pods = await self.pods(cluster)
        return pods, sum(p.cost_per_hour for p in pods)

    async def destroy(self, cluster: str, on_progress: ProgressCallback) -> RunResult:
        """Destroy every resource of ``cluster``; its nodes stop being watched, its tokens leave the keyring."""
        workspace = Workspace(self._data_dir, cluster)
        if not workspace.exists():
            raise ProvisioningError(f"There is no cluster named {cluster!r} to destroy.")
        self._planned = None
        env, secrets = await self._terraform_env()
        runner = self._runner(workspace)
        async with self._running(runner):
            await asyncio.to_thread(workspace.remove_plan)
            needs_init = await asyncio.to_thread(workspace.sync_module)
            await self._init_if_needed(runner, workspace, needs_init, env, on_progress, secrets)
            before = await self._state_pods(runner, workspace, env)
            args = ["destroy", "-auto-approve", "-input=false", "-json", f"-var-file={TFVARS_FILE}"]
            outcome = await runner.run(args, env, on_progress, secrets=secrets)
        left = await self._state_pods(runner, workspace, env)
        message = _destroy_message(cluster, outcome, len(before), left)
        try:
            await self._forget_nodes(cluster, before, left)
        except GpuwatchError as exc:
            message += f"\nThe app could not stop watching the removed pods: {exc}"
        if outcome.ok and await asyncio.to_thread(workspace.remove_if_empty):
            self._runners.pop(cluster, None)
        on_progress(Progress(ProgressKind.DONE, message, severity="" if outcome.ok else "error"))
        return RunResult(ok=outcome.ok, cancelled=outcome.cancelled, message=message, pods=left)

    async def cancel(self) -> None:
        """Interrupt the running command; returns once Terraform has exited and released its state lock."""
        runner = self._active
        if runner is not None:
            await runner.cancel()

    async def pods(self, cluster: str) -> tuple[PodInfo, ...]:
        """The pods in ``cluster``'s Terraform state (() when it has none)."""
        workspace = Workspace(self._data_dir, cluster)
        if not workspace.exists():
            return ()
        return await self._state_pods(self._runner(workspace), workspace, await self._read_env())

    # --- helpers --------------------------------------------------------------------------------------------

    def _runner(self, workspace: Workspace) -> TerraformRunner:
        runner = self._runners.get(workspace.name)
        if runner is None:
            runner = TerraformRunner(self.find_binary(), workspace.path, interrupt_grace_s=self._interrupt_grace_s)
            self._runners[workspace.name] = runner
        return runner

    @contextlib.asynccontextmanager
    async def _running(self, runner: TerraformRunner) -> AsyncIterator[None]:
        if self._active is not None:
            raise ProvisioningError(
                f"Terraform is already running for cluster {self._active.workdir.name!r}: wait for it or cancel it."
            )
        async with runner.exclusive():
            self._active = runner
            try:
                yield
            finally:
                self._active = None

    async def _terraform_env(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """The environment that carries the secrets (and the secrets, to redact from messages)."""
        api_key = await self._secret(RUNPOD_API_KEY_SECRET)
        if not api_key:
            raise ProvisioningError(
                "No RunPod API key: paste yours in the RunPod tab (it is kept in the system keyring as "
                f"{RUNPOD_API_KEY_SECRET!r}), then try again."
            )
        hf_token = await self._secret(HF_TOKEN_SECRET) or ""
        env = await self._read_env()
        env.update(RUNPOD_API_KEY=api_key, TF_VAR_hf_token=hf_token)
        return env, (api_key, hf_token)

    async def _read_env(self) -> dict[str, str]:
        cache = self._data_dir / PLUGIN_CACHE_DIR
        await asyncio.to_thread(cache.mkdir, parents=True, exist_ok=True)
        return {"TF_PLUGIN_CACHE_DIR": str(cache)}

    async def _secret(self, name: str) -> str | None:
        try:
            return await asyncio.to_thread(self._secrets.get, name)
        except SecretStoreError as exc:
            raise ProvisioningError(str(exc)) from None

    async def _init_if_needed(self, runner: TerraformRunner, workspace: Workspace, needed: bool,
                              env: dict[str, str], on_progress: ProgressCallback, secrets: Sequence[str]) -> None:
        if not needed:
            return
        outcome = await runner.run(["init", "-input=false", "-json"], env, on_progress, secrets=secrets)
        if not outcome.ok and "flag provided but not defined" in outcome.stderr:  # no init -json before 1.9
            outcome = await runner.run(["init", "-input=false", "-no-color"], env, on_progress, secrets=secrets)
        if outcome.cancelled:
            raise ProvisioningError("Cancelled while Terraform was initialising; nothing was changed.")
        if not outcome.ok:
            raise ProvisioningError(
                f"terraform init failed: {outcome.error_text()} (the first run downloads the runpod and random "
                "providers from registry.terraform.io: check the network connection, then try again)"
            )
        await asyncio.to_thread(workspace.mark_initialised)

    async def _state_pods(self, runner: TerraformRunner, workspace: Workspace,
                          env: dict[str, str]) -> tuple[PodInfo, ...]:
        """The pods in the cluster's state; Terraform is not asked when the state is empty (or absent)."""
        if await asyncio.to_thread(workspace.resource_count) == 0:
            return ()
        shown = await runner.read_json(["show", "-json", "-no-color"], env)
        return outputs.pods_from_state(shown)

    async def _after_apply(self, cluster: str, runner: TerraformRunner, env: dict[str, str], outcome: RunOutcome,
                           before: tuple[PodInfo, ...], pods: tuple[PodInfo, ...]) -> str:
        """The message for the user; after a complete apply the pods are also set up for watching."""
        cost = sum(p.cost_per_hour for p in pods)
        exist = f"{len(pods)} pod(s) exist now (${cost:.2f}/h)"
        if outcome.cancelled:
            return f"Apply cancelled; {exist}. Plan and apply again to finish, or destroy the cluster to remove them."
        if not outcome.ok:
            return (f"Apply failed: {outcome.error_text()}\n{exist} and cost money while they run: plan and apply "
                    "again to retry, or destroy the cluster to remove them.")
        try:
            await self._configure_nodes(cluster, runner, env)
            await self._forget_tokens(before, pods)
        except GpuwatchError as exc:
            return f"Cluster {cluster!r} is up ({exist}) but its nodes could not be set up for watching: {exc}"
        return f"Cluster {cluster!r} is up: {exist}. Its pods are being watched now."

    async def _configure_nodes(self, cluster: str, runner: TerraformRunner, env: dict[str, str]) -> None:
        found = await runner.read_json(["output", "-json", "-no-color"], env)
        pods = outputs.pods_from_outputs(found)
        token = outputs.pod_token_from_outputs(found)
        nodes = nodes_of(pods)
        for node in nodes:
            await asyncio.to_thread(self._secrets.set, node_token_secret_name(node.name), token)
        await self._set_cluster_nodes(cluster, nodes)

    async def _forget_nodes(self, cluster: str, before: Sequence[PodInfo], left: Sequence[PodInfo]) -> None:
        await self._set_cluster_nodes(cluster, nodes_of(left))
        await self._forget_tokens(before, left)

    async def _forget_tokens(self, before: Sequence[PodInfo], now: Sequence[PodInfo]) -> None:
        """Remove the keyring tokens of pods that no longer exist."""
        remaining = {p.name for p in now}
        for pod in before:
            if pod.name not in remaining:
                await asyncio.to_thread(self._secrets.delete, node_token_secret_name(pod.name))


def _destroy_message(cluster: str, outcome: RunOutcome, before: int, left: Sequence[PodInfo]) -> str:
    if outcome.ok:
        return f"Cluster {cluster!r} destroyed: {before} pod(s) removed."
    remaining = f"{len(left)} pod(s) still exist (${sum(p.cost_per_hour for p in left):.2f}/h)"
    if outcome.cancelled:
        return f"Destroy cancelled; {remaining}. Destroy again to remove them."
    return f"Destroy failed: {outcome.error_text()}\n{remaining}: destroy again to remove them."
