"""The logs service over two real pod log servers: naming, tokens from the keyring, the agent's service_logs
tool, and vLLM's state followed as its log grows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuwatch_desktop.agent.calls import Call, ToolRunner
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.config.secrets import SecretStore, node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.vllm_state import VllmPhase
from gpuwatch_desktop.services.agent_data import AppClusterData
from gpuwatch_desktop.services.logs_service import LogsService, VllmWatch
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.sources.pod_logs import LogNotFoundError
from gpuwatch_pod.logserver import LogServer
from tests.unit.test_secrets import MemoryKeyring

WAIT_S = 10.0
TOKENS = {"node-1": "head-token", "node-2": "worker-token"}
LOADING = [
    "(APIServer pid=1) INFO 06-02 09:14:07 [api_server.py:1839] vLLM API server version 0.11.0",
    "Loading safetensors checkpoint shards:  40% Completed | 2/5 [00:04<00:06,  2.18s/it]",
]
READY = [
    "Loading safetensors checkpoint shards: 100% Completed | 5/5 [00:10<00:00,  2.04s/it]",
    "(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:34] Available routes are:",
    "(APIServer pid=1) INFO:     Application startup complete.",
]


def append(path: Path, *lines: str) -> None:
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))


@dataclass
class Pod:
    server: LogServer
    files: dict[str, Path]


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[dict[str, Pod]]:
    layout = {"node-1": ["vllm", "slurmctld", "gpu-exporter"], "node-2": ["slurmd", "gpu-exporter"]}
    pods: dict[str, Pod] = {}
    for node, names in layout.items():
        files = {name: tmp_path / node / f"{name}.log" for name in names}
        for name, path in files.items():
            path.parent.mkdir(exist_ok=True)
            append(path, *(LOADING if name == "vllm" else [f"{node} {name} line {i}" for i in range(5)]))
        pods[node] = Pod(LogServer(files, port=0, token=TOKENS[node]).start(), files)
    yield pods
    for pod in pods.values():
        pod.server.close()


def keyring(tokens: dict[str, str]) -> SecretStore:
    secrets = SecretStore("gpuwatch-test", MemoryKeyring())
    for node, token in tokens.items():
        secrets.set(node_token_secret_name(node), token)
    return secrets


def nodes(pods: dict[str, Pod]) -> list[NodeConfig]:
    return [
        NodeConfig("node-1", "http://127.0.0.1:1/metrics", pods["node-1"].server.url, "http://127.0.0.1:2"),
        NodeConfig("node-2", "http://127.0.0.1:3/metrics", pods["node-2"].server.url),
        NodeConfig("node-3", "http://127.0.0.1:4/metrics"),  # no log server
    ]


class Watches:
    """vLLM states as the service publishes them, awaitable."""

    def __init__(self, service: LogsService) -> None:
        self.seen: list[VllmWatch] = []
        self._changed = asyncio.Event()
        service.state_listeners.append(self._on_state)

    def _on_state(self, watch: VllmWatch) -> None:
        self.seen.append(watch)
        self._changed.set()

    async def until(self, test: Callable[[VllmWatch], bool]) -> VllmWatch:
        async with asyncio.timeout(WAIT_S):
            while True:
                for watch in self.seen:
                    if test(watch):
                        return watch
                self._changed.clear()
                await self._changed.wait()


def test_services_are_named_by_node_and_tails_come_from_the_right_pod(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring(TOKENS))
        try:
            await service.set_nodes(nodes(pods))
            assert service.nodes() == ["node-1", "node-2"] and service.head == "node-1"
            assert service.services() == ["gpu-exporter", "slurmctld", "vllm", "node-2/gpu-exporter", "node-2/slurmd"]
            assert await service.tail("node-2/slurmd", 2) == ["node-2 slurmd line 3", "node-2 slurmd line 4"]
            assert await service.tail("slurmctld", 1) == ["node-1 slurmctld line 4"]
            assert await service.tail("node-1/slurmctld", 1) == ["node-1 slurmctld line 4"]
            with pytest.raises(LogNotFoundError, match="no log named 'slurmd'"):
                await service.tail("slurmd", 1)  # the head has none: node-2's needs its prefix
            with pytest.raises(LogNotFoundError, match="no log server has a log named 'node-9/x'"):
                await service.tail("node-9/x", 1)
            assert service.problems == {}
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_the_agent_reads_service_logs_through_the_service(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring(TOKENS))
        try:
            await service.set_nodes(nodes(pods))
            runner = ToolRunner(default_tools(), AppClusterData(ClusterState(), logs=service))
            outcome = await runner.one(Call("c1", "service_logs", json.dumps({"service": "node-2/slurmd", "lines": 2})))
            assert outcome.ok and outcome.result == "node-2 slurmd line 3\nnode-2 slurmd line 4"
            assert outcome.summary == "2 lines of node-2/slurmd"
            unknown = await runner.one(Call("c2", "service_logs", json.dumps({"service": "slurmd"})))
            assert not unknown.ok and "services with logs: gpu-exporter, slurmctld, vllm, node-2/gpu-exporter" in (
                unknown.result)
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_a_missing_or_wrong_token_is_reported_per_node(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring({"node-1": "not-the-token"}))
        try:
            await service.set_nodes(nodes(pods))
            assert service.problems == {
                "node-1": "401: the node's access token is wrong — set it in Settings → Nodes",
                "node-2": "401: the node's log server needs an access token — set it in Settings → Nodes",
            }
            assert service.services() == []
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_vllm_state_follows_the_log_from_loading_to_ready(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring(TOKENS))
        watches = Watches(service)
        try:
            await service.set_nodes(nodes(pods))
            loading = await watches.until(lambda w: w.state.percent == 40)
            assert loading.node == "node-1" and loading.state.summary() == "Model loading… 40 %"
            assert service.vllm_state("node-2") == service.vllm_state("node-1")  # no vLLM there: the head's
            append(pods["node-1"].files["vllm"], *READY)
            ready = await watches.until(lambda w: w.state.phase is VllmPhase.READY)
            assert ready.problem == "" and service.vllm_state() == ready
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_vllm_watch_says_when_the_log_server_is_gone_and_recovers(pods: dict[str, Pod]) -> None:
    head = pods["node-1"]

    async def scenario() -> None:
        service = LogsService(keyring(TOKENS))
        watches = Watches(service)
        try:
            await service.set_nodes(nodes(pods))
            await watches.until(lambda w: w.state.percent == 40)
            port = head.server.port
            await asyncio.to_thread(head.server.close)
            down = await watches.until(lambda w: "retrying in" in w.problem)
            assert down.state.percent == 40, "the last known state is kept while the server is away"
            append(head.files["vllm"], *READY)
            head.server = LogServer(head.files, port=port, token=TOKENS["node-1"]).start()
            await watches.until(lambda w: w.state.phase is VllmPhase.READY and not w.problem)
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_changing_nodes_restarts_watchers_and_forgets_removed_ones(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring(TOKENS))
        watches = Watches(service)
        changes: list[list[str]] = []
        service.changed_listeners.append(lambda: changes.append(service.nodes()))
        try:
            await service.set_nodes(nodes(pods))
            await watches.until(lambda w: w.state.percent == 40)
            old_client = service.client("node-1")
            await service.set_nodes(nodes(pods)[1:])  # node-1 removed
            assert old_client._client.is_closed and service.nodes() == ["node-2"]
            assert service.vllm == {} and watches.seen[-1].state.phase is VllmPhase.NOT_RUNNING
            assert service.services() == ["gpu-exporter", "slurmd"], "node-2 is the head now"
            assert changes[0] == ["node-1", "node-2"] and changes[-1] == ["node-2"]
        finally:
            await service.aclose()
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("vllm:")], "watchers ended"

    asyncio.run(scenario())


def test_a_token_stored_after_a_401_is_used_at_the_next_refresh(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        secrets = keyring({"node-1": TOKENS["node-1"]})
        service = LogsService(secrets)
        try:
            await service.set_nodes(nodes(pods))
            assert list(service.problems) == ["node-2"] and service.log_names("node-2") == []
            await asyncio.to_thread(secrets.set, node_token_secret_name("node-2"), TOKENS["node-2"])
            await service.refresh()
            assert service.problems == {} and service.log_names("node-2") == ["gpu-exporter", "slurmd"]
        finally:
            await service.aclose()

    asyncio.run(scenario())


def test_run_lists_the_logs_after_set_nodes_without_making_it_wait(pods: dict[str, Pod]) -> None:
    async def scenario() -> None:
        service = LogsService(keyring(TOKENS), refresh_s=3600)
        listed = asyncio.Event()
        both = {"node-2/slurmd", "vllm"}  # each node's listing arrives on its own: wait for the two
        service.changed_listeners.append(lambda: listed.set() if both <= set(service.services()) else None)
        runner = asyncio.get_running_loop().create_task(service.run(), name="logs")
        try:
            await service.set_nodes(nodes(pods), list_now=False)
            assert service.services() == [], "not listed yet"
            await asyncio.wait_for(listed.wait(), WAIT_S)
            assert service.services()[:3] == ["gpu-exporter", "slurmctld", "vllm"]
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await service.aclose()

    asyncio.run(scenario())
