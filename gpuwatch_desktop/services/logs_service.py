"""Every node's pod log server, for the Logs view and the agent, and vLLM's state read from its log.

Implements the agent's ``LogSource`` (``services()``, ``tail()``). Service names: the head node's logs
(the node with the Slurm exporter, else the first with a log server) go by their plain names (``vllm``,
``slurmctld``); other nodes' by ``<node>/<log>`` (``node-2/slurmd``); ``<node>/<log>`` also works for the
head. ``services()`` answers from the last listing; ``refresh()`` (run by ``run()`` every 30 s and on
``set_nodes``) renews it, keeping a node's last good listing while its server does not answer.

Each node whose server lists a ``vllm`` log gets a watcher that follows it and keeps its ``VllmState``;
``state_listeners`` hear every change. Everything here runs on the event loop; tokens are read from the
keyring in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.vllm_state import VllmState, VllmStateReader
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.sources.pod_logs import (
    FollowStatus,
    LogAuthError,
    LogInfo,
    LogNotFoundError,
    LogServerError,
    PodLogClient,
)

log = logging.getLogger(__name__)

VLLM_LOG = "vllm"
VLLM_BACKLOG = 2000  # lines read back to tell vLLM's state when a watcher starts
REFRESH_S = 30.0
LIST_TIMEOUT_S = 5.0

ClientFactory = Callable[[str, str | None], PodLogClient]


@dataclass(frozen=True, slots=True)
class VllmWatch:
    """One node's vLLM as its log tells it; ``problem`` when the log cannot be read (state unknown)."""

    node: str
    state: VllmState
    problem: str = ""


class LogsService:
    """Per-node log clients and listings, built from the settings' nodes (those with a ``logs_url``)."""

    def __init__(self, secrets: SecretStore | None = None, client_factory: ClientFactory = PodLogClient,
                 refresh_s: float = REFRESH_S) -> None:
        self._tokens = NodeTokens(secrets)  # every service of a node takes the node's token, as the poller does
        self._factory = client_factory
        self.refresh_s = refresh_s
        self._configs: dict[str, tuple[str, str | None]] = {}  # node -> (logs_url, token)
        self._clients: dict[str, PodLogClient] = {}
        self._head: str | None = None
        self._listings: dict[str, list[LogInfo]] = {}
        self.problems: dict[str, str] = {}  # node -> why its listing failed (last try)
        self._refused: set[str] = set()  # nodes whose server answered 401
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self.vllm: dict[str, VllmWatch] = {}
        self.changed_listeners: list[Callable[[], None]] = []  # nodes, their log names or problems changed
        self.state_listeners: list[Callable[[VllmWatch], None]] = []
        self._closed = False
        self._wake = asyncio.Event()

    # --- configuration -------------------------------------------------------------------------------

    async def set_nodes(self, nodes: Sequence[NodeConfig], list_now: bool = True) -> None:
        """Use these nodes' log servers (nodes without ``logs_url`` are left out) and list their logs: here,
        or with ``list_now=False`` in ``run()`` (so the caller never waits on a slow server)."""
        served = [n for n in nodes if n.logs_url]
        tokens = await self._tokens.read(n.name for n in served)
        heads = [n.name for n in served if n.slurm_url]
        self._head = heads[0] if heads else (served[0].name if served else None)
        await self._use({n.name: (n.logs_url, tokens.get(n.name)) for n in served})
        self._wake.set()  # run() lists them again at once
        if list_now:
            await self.refresh()

    async def _use(self, configs: dict[str, tuple[str, str | None]]) -> None:
        """Clients for ``configs``: kept where unchanged, new (and the old one closed) where changed."""
        stale = [name for name, config in self._configs.items() if configs.get(name) != config]
        old_clients = [self._clients.pop(name) for name in stale if name in self._clients]
        for name in stale:
            self._listings.pop(name, None)
            self.problems.pop(name, None)
            self._refused.discard(name)
            await self._stop_watcher(name)
        self._configs = dict(configs)
        for name, (url, token) in configs.items():
            if name not in self._clients:
                self._clients[name] = self._factory(url, token)
        self._notify_changed()
        for client in old_clients:  # after the listeners let go of them
            await client.aclose()

    async def _reread_refused_tokens(self) -> None:
        """A node that answered 401 may have had its token stored or changed since: read it again."""
        refused = [name for name in self.nodes() if name in self._refused]
        if not refused:
            return
        tokens = await self._tokens.read(refused)
        configs = {**self._configs, **{name: (self._configs[name][0], tokens[name]) for name in refused}}
        if configs != self._configs:
            await self._use(configs)

    # --- what there is -------------------------------------------------------------------------------

    def nodes(self) -> list[str]:
        """Nodes with a log server, in settings order."""
        return list(self._configs)

    @property
    def head(self) -> str | None:
        return self._head

    def client(self, node: str) -> PodLogClient:
        try:
            return self._clients[node]
        except KeyError:
            raise LogServerError(f"node {node!r} has no log server configured") from None

    def log_names(self, node: str) -> list[str]:
        """The node's log names from its last good listing."""
        return [info.name for info in self._listings.get(node, [])]

    async def list_logs(self, node: str) -> list[LogInfo]:
        """Ask the node's server for its logs now (and remember the answer)."""
        try:
            async with asyncio.timeout(LIST_TIMEOUT_S):
                listing = await self.client(node).list()
        except TimeoutError:
            raise LogServerError(f"the log server of {node} did not answer within {LIST_TIMEOUT_S:g} s") from None
        if node not in self._configs:
            return listing  # removed meanwhile
        before = self.log_names(node)
        self._listings[node] = listing
        self.problems.pop(node, None)
        self._refused.discard(node)
        if [info.name for info in listing] != before:
            self._notify_changed()
        return listing

    async def refresh(self) -> None:
        """List every node's logs at once; start a vLLM watcher where a ``vllm`` log appeared."""
        await self._reread_refused_tokens()
        problems_before = dict(self.problems)
        nodes = self.nodes()
        results = await asyncio.gather(*(self.list_logs(n) for n in nodes), return_exceptions=True)
        for node, result in zip(nodes, results, strict=True):
            if isinstance(result, LogAuthError):
                self._refused.add(node)
            if isinstance(result, LogServerError):
                self.problems[node] = result.reason
            elif isinstance(result, Exception):  # e.g. its client was closed by set_nodes meanwhile
                log.warning("listing the logs of %s failed", node, exc_info=result)
                self.problems[node] = f"{type(result).__name__}: {result}"
            elif isinstance(result, BaseException):
                raise result
        for node in nodes:
            if VLLM_LOG in self.log_names(node) and node not in self._watchers:
                self._start_watcher(node)
        if self.problems != problems_before:
            self._notify_changed()

    async def run(self) -> None:
        """Refresh the listings now, every ``refresh_s`` seconds and after ``set_nodes``, until cancelled."""
        while True:
            self._wake.clear()
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_s)

    # --- the agent's LogSource -----------------------------------------------------------------------

    def services(self) -> list[str]:
        """Log names the agent may ask for: the head's plainly, other nodes' as ``node/log``."""
        names: list[str] = []
        for node in self.nodes():
            plain = node == self._head
            names += [name if plain else f"{node}/{name}" for name in self.log_names(node)]
        return names

    def resolve(self, service: str) -> tuple[str, str]:
        """(node, log name) of a service name as ``services()`` gives them, or ``node/log`` for any node."""
        node, _, name = service.rpartition("/")
        if node in self._configs:
            return node, name
        if self._head is not None and "/" not in service:
            return self._head, service
        known = ", ".join(self.services()) or "none"
        raise LogNotFoundError(f"no log server has a log named {service!r}; logs: {known}")

    async def tail(self, service: str, lines: int) -> list[str]:
        node, name = self.resolve(service)
        return await self.client(node).tail(name, lines)

    # --- following ------------------------------------------------------------------------------------

    def follow(self, node: str, name: str, backlog: int = 0,
               on_status: Callable[[FollowStatus], None] | None = None) -> AsyncIterator[str]:
        """The node's log ``name``: ``backlog`` lines back, then as it grows (see ``PodLogClient.follow``)."""
        return self.client(node).follow(name, backlog, on_status)

    def vllm_state(self, node: str | None = None) -> VllmWatch | None:
        """The node's vLLM (or, with no node or one without vLLM, the first node's that has one)."""
        if node is not None and node in self.vllm:
            return self.vllm[node]
        return next(iter(self.vllm.values()), None)

    def _start_watcher(self, node: str) -> None:
        if self._closed:
            return
        self._watchers[node] = asyncio.get_running_loop().create_task(self._watch_vllm(node), name=f"vllm:{node}")

    async def _stop_watcher(self, node: str) -> None:
        task = self._watchers.pop(node, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.vllm.pop(node, None) is not None:
            self._notify_state(VllmWatch(node, VllmState()))

    async def _watch_vllm(self, node: str) -> None:
        """Follow the node's vLLM log and publish its state; re-read from a tail after a gap."""
        reader = VllmStateReader()
        self._publish(VllmWatch(node, reader.state))
        gap = asyncio.Event()

        def on_status(status: FollowStatus) -> None:
            if status.gap:
                gap.set()
            problem = "" if status.connected else f"{status.message}; retrying in {status.retry_in_s:.0f} s"
            self._publish(VllmWatch(node, reader.state, problem))

        try:
            async for line in self.follow(node, VLLM_LOG, VLLM_BACKLOG, on_status):
                if gap.is_set():
                    gap.clear()
                    reader.reset()
                    reader.feed_all(await self._tail_or_empty(node))
                if reader.feed(line):
                    self._publish(VllmWatch(node, reader.state))
        except LogServerError as exc:  # 401 or no such log: nothing to retry until the settings change
            self._publish(VllmWatch(node, VllmState(), exc.reason))

    async def _tail_or_empty(self, node: str) -> list[str]:
        try:
            return await self.client(node).tail(VLLM_LOG, VLLM_BACKLOG)
        except LogServerError:
            return []

    def _publish(self, watch: VllmWatch) -> None:
        if self.vllm.get(watch.node) != watch:
            self.vllm[watch.node] = watch
            self._notify_state(watch)

    def _notify_state(self, watch: VllmWatch) -> None:
        for listener in list(self.state_listeners):
            listener(watch)

    def _notify_changed(self) -> None:
        for listener in list(self.changed_listeners):
            listener()

    async def aclose(self) -> None:
        """Stop every watcher and close every client."""
        self._closed = True
        for node in list(self._watchers):
            await self._stop_watcher(node)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
