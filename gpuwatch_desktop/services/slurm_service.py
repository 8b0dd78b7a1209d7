"""Watches the Slurm exporter of the first node with a Slurm URL: one fetch every ``interval_s``.

The last good data is kept when a fetch fails, marked stale with the reason. Listeners (plain callables, no
arguments) hear of every change: a fetch starting, new data, an error, a new configuration; they read
``latest``, ``fetching`` and ``head``. Also the agent's ``SlurmSource`` (``agent.data``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.slurm import SlurmJob, SlurmStatus, jobs_in_group
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.sources.slurm import SlurmClient, SlurmSourceError, base_url_of

log = logging.getLogger(__name__)

Listener = Callable[[], None]
ClientFactory = Callable[[NodeConfig, str | None, float], SlurmClient]
TASK_NAME = "slurm-poll"


def _default_client(node: NodeConfig, token: str | None, timeout_s: float) -> SlurmClient:
    return SlurmClient(node.slurm_url, token, node=node.name, timeout_s=timeout_s)


def slurm_head(nodes: Sequence[NodeConfig]) -> NodeConfig | None:
    """The node whose Slurm exporter is watched: the first with a Slurm URL."""
    return next((n for n in nodes if n.slurm_url.strip()), None)


class SlurmService:
    """Polls one Slurm exporter as the named task ``slurm-poll``; ``aclose()`` ends it."""

    def __init__(self, secrets: SecretStore | None = None, *, interval_s: float = 10.0, timeout_s: float = 5.0,
                 client_factory: ClientFactory = _default_client) -> None:
        self.interval_s = interval_s
        self.timeout_s = min(timeout_s, interval_s)
        self.head: NodeConfig | None = None
        self.latest: SlurmStatus | None = None
        self.fetching = False
        self._tokens = NodeTokens(secrets)  # the node's token, as the poller reads it
        self._client_factory = client_factory
        self._client: SlurmClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._fetch_lock = asyncio.Lock()
        self._config_lock = asyncio.Lock()
        self._reread_token = False

    @property
    def url(self) -> str:
        return base_url_of(self.head.slurm_url) if self.head is not None else ""

    def connected(self) -> bool:
        """Whether a Slurm exporter is configured (its data may still be missing or stale)."""
        return self.head is not None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the function that stops it (safe to call twice)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def set_nodes(self, nodes: Sequence[NodeConfig]) -> None:
        """Watch the exporter of the first node with a Slurm URL (none: stop); unchanged config keeps polling."""
        head = slurm_head(nodes)
        async with self._config_lock:
            if head is not None and self.head is not None and (head.name, head.slurm_url) == (
                    self.head.name, self.head.slurm_url) and self._task is not None:
                return
            await self._stop()
            self.head, self.latest = head, None
            if head is not None:
                token = (await self._tokens.read([head.name]))[head.name]
                self._client = self._client_factory(head, token, self.timeout_s)
                self._task = asyncio.get_running_loop().create_task(self._run(), name=TASK_NAME)
            self._notify()

    def request_refresh(self) -> None:
        """Fetch now instead of at the next interval."""
        self._wake.set()

    async def refresh(self) -> SlurmStatus | None:
        """Fetch once now (waiting for a fetch already under way); the new ``latest``, None when unconfigured."""
        async with self._fetch_lock:
            if self._reread_token:  # refused last time: the token may have been stored or changed since
                await self._renew_client()
            client = self._client
            if client is None:
                return None
            self.fetching = True
            self._notify()
            try:
                status = await client.status()
            except SlurmSourceError as exc:
                status, self._reread_token = self._failed(str(exc)), exc.unauthorized
            finally:
                self.fetching = False
            if client is not self._client:  # reconfigured meanwhile: this answer is for the old exporter
                return self.latest
            self.latest = status
            self._notify()
            return status

    async def status(self) -> SlurmStatus:
        """The latest data, fetched now when there is none or it is old; SlurmSourceError when there is none."""
        latest = self.latest
        if latest is None or time.time() - latest.fetched_at > 2 * self.interval_s:
            latest = await self.refresh() or latest
        if latest is None:
            raise SlurmSourceError("no Slurm exporter is configured: add the head node's Slurm URL in "
                                   "Settings → Nodes")
        if not latest.has_data:
            raise SlurmSourceError(f"no Slurm data yet: {latest.error or 'the first fetch has not finished'}")
        return latest

    async def jobs(self, state: str, limit: int) -> list[SlurmJob]:
        """Up to ``limit`` jobs of a group (all, running, pending, other), in the exporter's order."""
        return jobs_in_group((await self.status()).jobs, state)[:max(0, limit)]

    async def aclose(self) -> None:
        await self._stop()
        self._listeners.clear()

    def _failed(self, error: str) -> SlurmStatus:
        now = time.time()
        if self.latest is not None and self.latest.has_data:
            return self.latest.failed(error, now)
        head = self.head
        return SlurmStatus(head.name if head else "", self.url, fetched_at=now, error=error)

    async def _run(self) -> None:
        while True:
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            self._wake.clear()

    async def _renew_client(self) -> None:
        self._reread_token = False
        head, old = self.head, self._client
        if head is None or old is None:
            return
        token = (await self._tokens.read([head.name]))[head.name]
        if self._client is old:
            self._client = self._client_factory(head, token, self.timeout_s)
            await old.aclose()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self.fetching = self._reread_token = False

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a broken listener must not stop polling
                log.exception("Slurm listener failed")
