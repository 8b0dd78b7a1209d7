"""The poller: one scrape per node per interval, concurrently, with backoff for failing nodes.

Each round scrapes every node that is due, publishes statuses and snapshots into the state store and
hands the round's snapshots to the history writer (which runs off the event loop's thread).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.errors import ScrapeError, StorageError
from gpuwatch_desktop.core.snapshot import NodeSnapshot, NodeState, NodeStatus
from gpuwatch_desktop.services.node_tokens import NodeTokens
from gpuwatch_desktop.services.state import ClusterState, RoundInfo
from gpuwatch_desktop.sources.scrape import DcgmSource

log = logging.getLogger(__name__)

SLOW_FRACTION = 0.8  # a scrape taking more than this share of its timeout marks the node degraded

# Stores a round: the fresh snapshots and the status of every node scraped (up/down, scrape ms, samples).
RoundWriter = Callable[[Sequence[NodeSnapshot], Sequence[NodeStatus]], Awaitable[object]]
SourceFactory = Callable[[NodeConfig, float, str | None], DcgmSource]
UNAUTHORIZED = "HTTP 401"  # the start of the ScrapeError reason for a refused token


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with jitter: retry after interval·2^(n-1), capped, times 1..1.25."""

    interval_s: float
    max_delay_s: float = 60.0
    down_after: int = 3  # consecutive failures before a node is shown down

    def delay(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_delay_s, self.interval_s * 2 ** max(0, failures - 1))
        return min(self.max_delay_s, base * rng.uniform(1.0, 1.25))


def _default_source(node: NodeConfig, timeout_s: float, token: str | None) -> DcgmSource:
    return DcgmSource(node.name, node.url, timeout_s, token)


class Poller:
    def __init__(
        self,
        state: ClusterState,
        write_round: RoundWriter | None = None,
        *,
        interval_s: float = 2.0,
        timeout_s: float = 1.5,
        source_factory: SourceFactory = _default_source,
        rng: random.Random | None = None,
        tokens: NodeTokens | None = None,
    ) -> None:
        self.state = state
        self.interval_s = interval_s
        self.timeout_s = min(timeout_s, interval_s * 0.9)
        self.backoff = BackoffPolicy(interval_s)
        self._write_round = write_round
        self._source_factory = source_factory
        self._rng = rng or random.Random()
        self._sources: dict[str, DcgmSource] = {}
        self._configs: dict[str, NodeConfig] = {}
        self._tokens = tokens or NodeTokens(None)
        self._token_of: dict[str, str | None] = {}
        self._refused: set[str] = set()  # nodes that answered 401: their token is read again before the next try

    async def set_nodes(self, nodes: Sequence[NodeConfig]) -> None:
        """Watch these nodes; a node whose URL changed gets a fresh client and status."""
        wanted = {n.name: n for n in nodes}
        for name, source in list(self._sources.items()):
            if wanted.get(name) != self._configs.get(name):
                await source.aclose()
                del self._sources[name], self._configs[name]
        added = [name for name in wanted if name not in self._sources]
        self._token_of.update(await self._tokens.read(added))
        for name in added:
            self._sources[name] = self._source_factory(wanted[name], self.timeout_s, self._token_of[name])
            self._configs[name] = wanted[name]
        self.state.set_nodes(wanted)

    async def set_timing(self, interval_s: float, timeout_s: float) -> None:
        """New interval and per-node timeout from Settings; clients are rebuilt with the new timeout."""
        self.interval_s = interval_s
        self.timeout_s = min(timeout_s, interval_s * 0.9)
        self.backoff = replace(self.backoff, interval_s=interval_s)
        for name, source in list(self._sources.items()):
            if source.timeout_s != self.timeout_s:
                await self._rebuild(name)

    async def _rebuild(self, name: str) -> None:
        await self._sources[name].aclose()
        self._sources[name] = self._source_factory(self._configs[name], self.timeout_s, self._token_of.get(name))

    async def _reread_refused_tokens(self) -> None:
        """A node that answered 401 may have had its token stored or changed since: read it again."""
        refused = [name for name in self._refused if name in self._sources]
        self._refused.clear()
        for name, token in (await self._tokens.read(refused)).items():
            if token != self._token_of.get(name):
                self._token_of[name] = token
                await self._rebuild(name)

    async def run(self) -> None:
        """Poll rounds on a fixed schedule until cancelled."""
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while True:
            await self.poll_round()
            next_start = max(next_start + self.interval_s, loop.time())
            await asyncio.sleep(next_start - loop.time())

    async def poll_round(self) -> RoundInfo:
        started = time.perf_counter()
        await self._reread_refused_tokens()
        now = time.time()
        due = [s for s in self._sources.values() if self._is_due(s.node, now)]
        results = await asyncio.gather(*(self._poll_node(s) for s in due))
        snapshots = [snap for snap in results if snap is not None]
        if due and self._write_round is not None:
            statuses = [view.status for view in (self.state.view(s.node) for s in due) if view is not None]
            await self._store(snapshots, statuses)
        info = RoundInfo(
            finished_at=time.time(),
            duration_ms=(time.perf_counter() - started) * 1000,
            nodes_up=self.state.count_up(),
            nodes_total=len(self._sources),
        )
        self.state.finish_round(info)
        return info

    def _is_due(self, node: str, now: float) -> bool:
        view = self.state.view(node)
        next_attempt = view.status.next_attempt if view else None
        return next_attempt is None or next_attempt <= now + 0.05

    async def _poll_node(self, source: DcgmSource) -> NodeSnapshot | None:
        view = self.state.view(source.node)
        previous = view.status if view else NodeStatus(node=source.node)
        started = time.perf_counter()
        try:
            snapshot = await source.poll()
        except ScrapeError as exc:
            if exc.reason.startswith(UNAUTHORIZED):
                self._refused.add(source.node)
            self.state.publish(self._failed(previous, exc.reason, started))
            return None
        self.state.publish(self._succeeded(previous, snapshot, started), snapshot)
        return snapshot

    def _succeeded(self, previous: NodeStatus, snapshot: NodeSnapshot, started: float) -> NodeStatus:
        scrape_ms = (time.perf_counter() - started) * 1000
        reasons = list(snapshot.warnings)
        if scrape_ms > SLOW_FRACTION * self.timeout_s * 1000:
            reasons.insert(0, f"slow scrape: {scrape_ms:.0f} ms")
        return replace(
            previous,
            state=NodeState.DEGRADED if reasons else NodeState.UP,
            reason="; ".join(reasons),
            last_attempt=snapshot.time,
            last_success=snapshot.time,
            scrape_ms=scrape_ms,
            sample_count=snapshot.sample_count,
            consecutive_failures=0,
            next_attempt=None,
        )

    def _failed(self, previous: NodeStatus, reason: str, started: float) -> NodeStatus:
        now = time.time()
        failures = previous.consecutive_failures + 1
        down = failures >= self.backoff.down_after or previous.last_success is None
        return replace(
            previous,
            state=NodeState.DOWN if down else NodeState.STALE,
            reason=reason,
            last_attempt=now,
            scrape_ms=(time.perf_counter() - started) * 1000,
            sample_count=0,
            consecutive_failures=failures,
            next_attempt=now + self.backoff.delay(failures, self._rng),
        )

    async def _store(self, snapshots: list[NodeSnapshot], statuses: list[NodeStatus]) -> None:
        assert self._write_round is not None
        try:
            await self._write_round(snapshots, statuses)
        except StorageError as exc:
            log.warning("history write failed: %s", exc)
            self.state.set_storage_error(str(exc))
        else:
            self.state.set_storage_error(None)

    async def aclose(self) -> None:
        for source in self._sources.values():
            await source.aclose()
        self._sources.clear()
        self._configs.clear()
