"""The RunPod account (zero-install monitoring): the API key in the keyring, the account's pods polled while the
RunPod tab is visible, start and stop, and the node that watches a pod.

Every failure ends up in ``AccountSnapshot.error`` (the pods of the last good answer kept) or as a
``GpuwatchError`` from ``set_key``/``start_pod``/``stop_pod``; the key never appears in either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.provisioning.runpod_api import (
    RUNPOD_API_KEY_SECRET,
    RUNPOD_GRAPHQL_URL,
    RUNPOD_KEYS_PAGE,
    RunPodApiError,
    RunPodClient,
    RunPodPod,
    running_cost,
)

POLL_INTERVAL_S = 15.0
METRICS_PORT = 9400
LOGS_PORT = 8002
NO_KEY = f"No RunPod API key yet: create one at {RUNPOD_KEYS_PAGE} (API Keys) and enter it above."


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """What is known of the account now. On a failed refresh the pods are those of the last good answer."""

    pods: tuple[RunPodPod, ...] = ()
    fetched_at: float | None = None  # when ``pods`` came (None: never)
    error: str = ""  # why the last refresh failed ("" = it did not)
    error_kind: str = ""  # RunPodApiError.kind, "no_key" or "keyring"
    has_key: bool = False
    retry_after_s: float | None = None  # the API asked us to wait this long

    @property
    def running_cost(self) -> float:
        return running_cost(self.pods)

    @property
    def running(self) -> int:
        return sum(1 for p in self.pods if p.running)


class RunPodAccount:
    """One account, one key. ``poll`` runs while the view is visible; ``aclose`` at shutdown."""

    def __init__(self, secrets: SecretStore, *, url: str = RUNPOD_GRAPHQL_URL, interval_s: float = POLL_INTERVAL_S,
                 timeout_s: float = 15.0, clock: Callable[[], float] = time.time) -> None:
        self._secrets = secrets
        self.url = url
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._key: str | None = None  # None: none read yet, or none stored
        self._key_error = ""  # why the keyring could not be read
        self._client: RunPodClient | None = None
        self._refreshing = asyncio.Lock()
        self.snapshot = AccountSnapshot()

    async def load_key(self) -> bool:
        """Read the key from the keyring (in a thread) until there is one; whether there is. A keyring failure is
        shown. Re-reading while there is none picks up a key stored elsewhere (Settings, another window)."""
        if self._key is None:
            self._key_error = ""
            try:
                self._key = await asyncio.to_thread(self._secrets.get, RUNPOD_API_KEY_SECRET)
            except SecretStoreError as exc:
                self._key_error = f"Cannot read the RunPod API key: {exc}"
        return self._key is not None

    async def set_key(self, key: str) -> str:
        """Check ``key`` against RunPod, then keep it in the keyring; a note for the user ("" = all well).

        A key RunPod refuses raises ``RunPodApiError`` and is not stored. When RunPod cannot be reached the key is
        stored unchecked. Without a usable keyring the key is used until the app quits and the note says so."""
        key = key.strip()
        client = RunPodClient(key, url=self.url, timeout_s=self._timeout_s)  # raises for an empty key
        try:
            pods = await client.pods()
            checked = ""
        except RunPodApiError as exc:
            if exc.kind == "auth":
                await client.aclose()
                raise
            pods, checked = self.snapshot.pods, f"Stored without checking it: {exc}"
        await self._adopt(key, client)
        self.snapshot = AccountSnapshot(pods, self._clock(), checked, "network" if checked else "", True)
        try:
            await asyncio.to_thread(self._secrets.set, RUNPOD_API_KEY_SECRET, key)
        except SecretStoreError as exc:
            return f"The key is used until you quit but was not saved: {exc}"
        return checked

    async def forget_key(self) -> None:
        """Delete the key from the keyring and stop using it."""
        await asyncio.to_thread(self._secrets.delete, RUNPOD_API_KEY_SECRET)
        await self._adopt(None, None)
        self.snapshot = AccountSnapshot(error=NO_KEY, error_kind="no_key")

    async def _adopt(self, key: str | None, client: RunPodClient | None) -> None:
        old, self._client, self._key = self._client, client, key
        if old is not None:
            await old.aclose()

    def _current_client(self) -> RunPodClient | None:
        if self._client is None and self._key:
            self._client = RunPodClient(self._key, url=self.url, timeout_s=self._timeout_s)
        return self._client

    async def refresh(self) -> AccountSnapshot:
        """Fetch the pods now (one fetch at a time; a second caller gets the running one's answer)."""
        if self._refreshing.locked():
            async with self._refreshing:
                return self.snapshot
        async with self._refreshing:
            if not await self.load_key():
                failed = self._key_error
                self.snapshot = AccountSnapshot(error=failed or NO_KEY, error_kind="keyring" if failed else "no_key")
                return self.snapshot
            client = self._current_client()
            assert client is not None
            try:
                self.snapshot = AccountSnapshot(await client.pods(), self._clock(), has_key=True)
            except RunPodApiError as exc:
                self.snapshot = replace(self.snapshot, has_key=True, error=str(exc), error_kind=exc.kind,
                                        retry_after_s=exc.retry_after_s)
            return self.snapshot

    def next_delay(self) -> float:
        """Seconds to the next poll: the interval, or longer when RunPod asked us to wait."""
        return max(self.interval_s, self.snapshot.retry_after_s or 0.0)

    async def poll(self, on_snapshot: Callable[[AccountSnapshot], None]) -> None:
        """Refresh, report, wait; until cancelled."""
        while True:
            on_snapshot(await self.refresh())
            await asyncio.sleep(self.next_delay())

    async def start_pod(self, pod: RunPodPod) -> str:
        """Resume ``pod`` with its GPU count; RunPod's new desired status. Raises RunPodApiError."""
        return await self._required_client().start_pod(pod.id, pod.gpu_count)

    async def stop_pod(self, pod: RunPodPod) -> str:
        """Stop ``pod``; RunPod's new desired status. Raises RunPodApiError."""
        return await self._required_client().stop_pod(pod.id)

    def _required_client(self) -> RunPodClient:
        client = self._current_client()
        if client is None:
            raise RunPodApiError("auth", NO_KEY)
        return client

    async def aclose(self) -> None:
        await self._adopt(None, None)


def node_for_pod(pod: RunPodPod, nodes: Sequence[NodeConfig]) -> NodeConfig:
    """The node that watches ``pod`` through RunPod's proxy: GPU metrics on 9400, the log server on 8002.

    Raises ConfigError when a node already watches it. The name is the pod's, made unique with its id."""
    url = pod.proxy_url(METRICS_PORT) + "/metrics"
    for node in nodes:
        if node.url.rstrip("/") == url:
            raise ConfigError(f"pod {pod.name} is already watched as node {node.name!r}")
    taken = {n.name for n in nodes}
    name = pod.name.strip() or pod.id
    if name in taken:
        name = f"{name}-{pod.id}"
    node = NodeConfig(name, url, logs_url=pod.proxy_url(LOGS_PORT))
    node.validate()
    return node


def exposes_metrics(pod: RunPodPod) -> bool | None:
    """Whether the running pod exposes the metrics port through RunPod's proxy (None: unknown, no runtime)."""
    if pod.uptime_s is None:
        return None
    return METRICS_PORT in pod.http_ports
