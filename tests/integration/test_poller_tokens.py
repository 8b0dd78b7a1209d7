"""The poller sends each node's access token from the keyring, and reads it again after a 401."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gpuwatch_desktop.config.secrets import SecretStore, node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.snapshot import NodeState
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.services.poller import Poller
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_pod.exporter import GpuExporter
from gpuwatch_pod.sim import SimBackend
from tests.unit.test_secrets import MemoryKeyring


def _state_of(state: ClusterState, node: str) -> tuple[NodeState, str]:
    view = state.view(node)
    assert view is not None
    return view.status.state, view.status.reason


def test_token_from_keyring_is_sent_and_reread_after_401() -> None:
    keyring = MemoryKeyring()
    secrets = SecretStore(backend=keyring)
    backend = SimBackend(1, seed=0, hostname="pod-a")
    exporter = GpuExporter(backend, "127.0.0.1", 0, token="right-token").start()
    secured, open_node = NodeConfig("secured", exporter.url), NodeConfig("open", exporter.url)
    secrets.set(node_token_secret_name("secured"), "wrong-token")
    state = ClusterState()

    async def scenario() -> None:
        poller = Poller(state, None, interval_s=1.0, timeout_s=0.8, tokens=NodeTokens(secrets))
        await poller.set_nodes([secured, open_node])
        await poller.poll_round()
        assert _state_of(state, "secured")[0] is NodeState.DOWN
        assert "HTTP 401" in _state_of(state, "secured")[1]
        assert _state_of(state, "open")[0] is NodeState.DOWN  # no token stored for it at all
        await asyncio.to_thread(secrets.set, node_token_secret_name("secured"), "right-token")
        for view in state.views():
            state.publish(replace(view.status, next_attempt=None))
        await poller.poll_round()
        assert _state_of(state, "secured")[0] is NodeState.UP
        await poller.aclose()

    try:
        asyncio.run(scenario())
    finally:
        exporter.close()
        backend.close()
