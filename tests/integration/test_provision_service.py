"""ProvisionService end to end: the fake `terraform` subprocess, the real SecretStore over an in-memory keyring."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gpuwatch_desktop.config.secrets import SecretStore, node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.provisioning.model import ClusterSpec, ProgressKind, ProvisioningError, RunResult
from gpuwatch_desktop.provisioning.runpod_api import RUNPOD_API_KEY_SECRET
from gpuwatch_desktop.services.provision_service import ProvisionService
from tests.fake_terraform import ProgressLog, put_fake_first_on_path
from tests.unit.test_secrets import MemoryKeyring

API_KEY = "rp-live-key-8c1d0b7e"
HF_TOKEN = "hf_secret_token_4a9"
PRICES = {"NVIDIA L40S": 0.86}
SPEC = ClusterSpec(name="lab", gpu_type="NVIDIA L40S", gpu_count=2, workers=2, model="org/model")


class Cluster:
    """The service with its keyring and a record of what it asked the app to watch."""

    def __init__(self, data_dir: Path, api_key: str | None = API_KEY) -> None:
        self.data_dir = data_dir
        self.secrets = SecretStore(backend=MemoryKeyring())
        if api_key:
            self.secrets.set(RUNPOD_API_KEY_SECRET, api_key)
            self.secrets.set("hf-token", HF_TOKEN)
        self.watched: dict[str, tuple[NodeConfig, ...]] = {}
        self.service = ProvisionService(data_dir, self.secrets, PRICES, self._set_nodes)

    async def _set_nodes(self, cluster: str, nodes: tuple[NodeConfig, ...]) -> None:
        self.watched[cluster] = nodes

    async def up(self, spec: ClusterSpec = SPEC, log: ProgressLog | None = None) -> RunResult:
        await self.service.plan(spec, ProgressLog())
        return await self.service.apply(log or ProgressLog())

    def state(self, name: str = "lab") -> dict:
        return json.loads((self.data_dir / "clusters" / name / "terraform.tfstate").read_text())


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    put_fake_first_on_path(monkeypatch)
    return Cluster(tmp_path)


def files_containing(root: Path, secret: str) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_plan_apply_watch_then_destroy(cluster: Cluster) -> None:
    service = cluster.service

    async def scenario() -> None:
        summary = await service.plan(SPEC, ProgressLog())
        assert (summary.add, summary.change, summary.remove) == (5, 0, 0)
        assert summary.cost_per_hour == pytest.approx(0.86 * 2 * 3)
        assert [c.address for c in summary.changes if c.resource_type == "runpod_pod"] == [
            "runpod_pod.head", "runpod_pod.worker[0]", "runpod_pod.worker[1]"]
        log = ProgressLog()
        result = await service.apply(log)
        assert result.ok and not result.cancelled and "is up: 3 pod(s) exist now ($5.16/h)" in result.message
        assert log.items[-1].kind == ProgressKind.DONE and log.items[-1].message == result.message
        assert [(p.name, p.role) for p in result.pods] == [
            ("lab-head", "head"), ("lab-worker-1", "worker"), ("lab-worker-2", "worker")]
        head = result.pods[0]
        assert head.urls[8000] == f"https://{head.id}-8000.proxy.runpod.net"
        assert (await service.destroy_preview("lab")) == (result.pods, pytest.approx(5.16))
        token = cluster.state()["outputs"]["pod_token"]["value"]
        nodes = cluster.watched["lab"]
        assert nodes[0] == NodeConfig("lab-head", f"https://{head.id}-9400.proxy.runpod.net/metrics",
                                      f"https://{head.id}-8002.proxy.runpod.net",
                                      f"https://{head.id}-9341.proxy.runpod.net")
        assert nodes[1].slurm_url == "" and nodes[1].logs_url.endswith("-8002.proxy.runpod.net")
        assert all(cluster.secrets.get(node_token_secret_name(n.name)) == token for n in nodes)
        assert service.clusters() == ["lab"]
        for secret in (API_KEY, HF_TOKEN):
            assert files_containing(cluster.data_dir, secret) == []

        result = await service.destroy("lab", ProgressLog())
        assert result.ok and result.pods == () and result.message == "Cluster 'lab' destroyed: 3 pod(s) removed."
        assert cluster.watched["lab"] == ()
        assert all(cluster.secrets.get(node_token_secret_name(n.name)) is None for n in nodes)
        assert service.clusters() == [] and (await service.pods("lab")) == ()

    asyncio.run(scenario())


def test_an_apply_failing_half_way_shows_what_exists_and_destroy_removes_it(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_FAIL_ON", "runpod_pod.worker[1]")

    async def scenario() -> None:
        result = await cluster.up()
        assert not result.ok and not result.cancelled
        assert "Apply failed: runpod_pod.worker[1]: Error creating pod" in result.message
        assert "2 pod(s) exist now ($3.44/h)" in result.message and "destroy the cluster" in result.message
        assert [p.name for p in result.pods] == ["lab-head", "lab-worker-1"]
        assert "lab" not in cluster.watched  # only a complete cluster is watched
        assert [p.name for p in await cluster.service.pods("lab")] == ["lab-head", "lab-worker-1"]
        monkeypatch.delenv("FAKE_TF_FAIL_ON")
        result = await cluster.service.destroy("lab", ProgressLog())
        assert result.ok and "2 pod(s) removed" in result.message

    asyncio.run(scenario())


def test_a_lost_network_during_apply_keeps_the_state_of_what_was_made(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_NETWORK_DOWN_AFTER", "1")

    async def scenario() -> None:
        result = await cluster.up()
        assert not result.ok and "dial tcp: lookup rest.runpod.io: no such host" in result.message
        assert [p.role for p in result.pods] == ["head"]
        monkeypatch.delenv("FAKE_TF_NETWORK_DOWN_AFTER")
        again = await cluster.up()  # the network is back: plan and apply finish the cluster
        assert again.ok and len(again.pods) == 3 and again.pods[0].id == result.pods[0].id

    asyncio.run(scenario())


def test_cancel_during_apply_stops_after_the_pod_in_flight(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    service = cluster.service

    async def scenario() -> None:
        await service.plan(SPEC, ProgressLog())
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")
        log = ProgressLog()
        applying = asyncio.create_task(service.apply(log))
        await log.wait_for(ProgressKind.APPLY_START, "runpod_pod.head")
        assert service.busy
        with pytest.raises(ProvisioningError, match="already running for cluster 'lab'"):
            await service.plan(ClusterSpec(name="other", gpu_type="NVIDIA L40S"), ProgressLog())
        await service.cancel()
        result = await applying
        assert result.cancelled and not result.ok and [p.name for p in result.pods] == ["lab-head"]
        assert "Apply cancelled; 1 pod(s) exist now" in result.message
        assert not service.busy
        monkeypatch.delenv("FAKE_TF_SLOW_S")
        assert (await service.destroy("lab", ProgressLog())).ok

    asyncio.run(scenario())
    assert not (cluster.data_dir / "clusters" / "other").exists()


def test_missing_binary_or_api_key_and_bad_specs_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    service = Cluster(tmp_path).service
    with pytest.raises(ProvisioningError, match="Neither terraform nor tofu was found on PATH: install"):
        service.find_binary()
    with pytest.raises(ProvisioningError, match="Neither terraform nor tofu"):
        asyncio.run(service.plan(SPEC, ProgressLog()))
    put_fake_first_on_path(monkeypatch)
    keyless = Cluster(tmp_path, api_key=None).service
    with pytest.raises(ProvisioningError, match="No RunPod API key: paste yours in the RunPod tab"):
        asyncio.run(keyless.plan(SPEC, ProgressLog()))
    with pytest.raises(ProvisioningError, match="workers must be a whole number from 0 to 16"):
        asyncio.run(service.plan(ClusterSpec(name="lab", gpu_type="NVIDIA L40S", workers=40), ProgressLog()))
    with pytest.raises(ProvisioningError, match="Nothing to apply: plan the cluster first"):
        asyncio.run(service.apply(ProgressLog()))
    with pytest.raises(ProvisioningError, match="no cluster named 'gone'"):
        asyncio.run(service.destroy("gone", ProgressLog()))
    assert service.clusters() == []


def test_no_network_on_the_first_plan_says_init_could_not_download_the_providers(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_NETWORK_DOWN", "1")
    with pytest.raises(ProvisioningError, match=r"terraform init failed: Failed to query available provider packages"):
        asyncio.run(cluster.service.plan(SPEC, ProgressLog()))
    monkeypatch.delenv("FAKE_TF_NETWORK_DOWN")
    assert asyncio.run(cluster.up()).ok  # once the network is back it works


def test_scaling_down_removes_the_extra_workers_and_their_nodes(cluster: Cluster) -> None:
    async def scenario() -> None:
        assert (await cluster.up()).ok
        first_token_names = [node_token_secret_name(n.name) for n in cluster.watched["lab"]]
        smaller = ClusterSpec(name="lab", gpu_type="NVIDIA L40S", gpu_count=2, workers=1, model="org/model")
        summary = await cluster.service.plan(smaller, ProgressLog())
        assert (summary.add, summary.remove) == (0, 1)
        result = await cluster.service.apply(ProgressLog())
        assert result.ok and [p.name for p in result.pods] == ["lab-head", "lab-worker-1"]
        assert [n.name for n in cluster.watched["lab"]] == ["lab-head", "lab-worker-1"]
        assert first_token_names[-1] == "node-token:lab-worker-2"
        assert cluster.secrets.get("node-token:lab-worker-2") is None
        assert cluster.secrets.get("node-token:lab-worker-1") is not None

    asyncio.run(scenario())


def test_a_cancelled_destroy_keeps_watching_what_is_left(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    service = cluster.service

    async def scenario() -> None:
        assert (await cluster.up()).ok
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")
        log = ProgressLog()
        destroying = asyncio.create_task(service.destroy("lab", log))
        await log.wait_for(ProgressKind.APPLY_START, "runpod_pod.worker[1]")  # workers go first
        await service.cancel()
        result = await destroying
        assert result.cancelled and "Destroy cancelled; 2 pod(s) still exist ($3.44/h)" in result.message
        assert [n.name for n in cluster.watched["lab"]] == ["lab-head", "lab-worker-1"]
        assert cluster.secrets.get("node-token:lab-worker-2") is None
        assert cluster.secrets.get("node-token:lab-head") is not None
        monkeypatch.delenv("FAKE_TF_SLOW_S")
        result = await service.destroy("lab", ProgressLog())
        assert result.ok and cluster.watched["lab"] == () and service.clusters() == []

    asyncio.run(scenario())
