"""The poller against real simulated exporters on loopback, storing into a real SQLite file."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.snapshot import NodeState
from gpuwatch_desktop.services.history_worker import HistoryWorker
from gpuwatch_desktop.services.poller import BackoffPolicy, Poller
from gpuwatch_desktop.services.state import ClusterState
from gpuwatch_desktop.storage import HistoryStore
from gpuwatch_pod.demo_cluster import DemoCluster


def _configs(cluster: DemoCluster) -> list[NodeConfig]:
    return [NodeConfig(name, url) for name, url in cluster.nodes]


def _force_due(state: ClusterState) -> None:
    """Make every node due now (as if its backoff had elapsed)."""
    for view in state.views():
        state.publish(replace(view.status, next_attempt=None))


def test_a_round_publishes_every_node_and_stores_it(demo_cluster: DemoCluster, tmp_path: Path) -> None:
    state = ClusterState()

    async def scenario() -> None:
        history = HistoryWorker(lambda: HistoryStore(tmp_path / "h.sqlite3"))
        await history.open()
        poller = Poller(state, history.write_round, interval_s=1.0, timeout_s=0.8)
        await poller.set_nodes(_configs(demo_cluster))
        info = await poller.poll_round()
        assert (info.nodes_up, info.nodes_total) == (3, 3)
        data = await history.query("node-2", 3, ["gpu_util", "gpu_temp"], time.time() - 60, time.time() + 1)
        assert len(data["gpu_util"].ts) == 1 and 0 <= data["gpu_util"].mean[0] <= 100
        await poller.aclose()
        await history.close()

    asyncio.run(scenario())
    for name in ("node-1", "node-2", "node-3"):
        view = state.view(name)
        assert view is not None and view.snapshot is not None
        assert view.status.state in (NodeState.UP, NodeState.DEGRADED)
        assert len(view.snapshot.gpus) == 4 and view.status.sample_count > 40
    quirky = state.view("node-2").snapshot  # type: ignore[union-attr]
    assert quirky is not None and quirky.hostname == "node-2"  # lowercase `hostname` label read
    assert all(g.value("mem_temp") is None for g in quirky.gpus)  # blank sentinel read as no value


def test_failing_nodes_are_marked_with_the_reason_and_others_keep_updating(
    demo_cluster: DemoCluster, http_503_url: str, refused_url: str, tmp_path: Path
) -> None:
    demo_cluster.set_scenario("node-2", "garbage")
    demo_cluster.set_scenario("node-3", "node-down")
    nodes = [*_configs(demo_cluster), NodeConfig("http-error", http_503_url), NodeConfig("refused", refused_url)]
    state = ClusterState()

    async def scenario() -> float:
        history = HistoryWorker(lambda: HistoryStore(tmp_path / "h.sqlite3"))
        await history.open()
        poller = Poller(state, history.write_round, interval_s=1.0, timeout_s=0.5)
        await poller.set_nodes(nodes)
        started = time.perf_counter()
        await poller.poll_round()
        elapsed = time.perf_counter() - started
        stored = {g.node for g in await history.known_gpus()}
        assert stored == {"node-1"}
        await poller.aclose()
        await history.close()
        return elapsed

    elapsed = asyncio.run(scenario())
    assert elapsed < 1.0, "a hanging node must not hold the round past its timeout"
    reasons = {v.status.node: (v.status.state, v.status.reason) for v in state.views()}
    assert reasons["node-1"][0] in (NodeState.UP, NodeState.DEGRADED)
    assert reasons["node-2"][0] is NodeState.DOWN and reasons["node-2"][1].startswith("bad payload: line")
    assert reasons["node-3"] == (NodeState.DOWN, "timed out after 0.5 s")
    assert reasons["http-error"] == (NodeState.DOWN, "HTTP 503 Service Unavailable")
    assert reasons["refused"][0] is NodeState.DOWN and reasons["refused"][1].startswith("cannot connect")
    assert state.view("node-1").snapshot is not None  # type: ignore[union-attr]


def test_last_good_data_is_kept_as_stale_then_down_then_recovers(demo_cluster: DemoCluster) -> None:
    state = ClusterState()

    async def scenario() -> None:
        poller = Poller(state, None, interval_s=1.0, timeout_s=0.5, rng=random.Random(1))
        await poller.set_nodes(_configs(demo_cluster)[:1])
        await poller.poll_round()
        good = state.view("node-1").snapshot  # type: ignore[union-attr]
        demo_cluster.set_scenario("node-1", "garbage")
        states = []
        for _ in range(3):
            _force_due(state)
            await poller.poll_round()
            view = state.view("node-1")
            assert view is not None and view.snapshot is good, "last good data must stay"
            states.append(view.status.state)
        assert states == [NodeState.STALE, NodeState.STALE, NodeState.DOWN]
        demo_cluster.set_scenario("node-1", "healthy")
        _force_due(state)
        await poller.poll_round()
        view = state.view("node-1")
        assert view is not None and view.status.state is NodeState.UP and view.snapshot is not good
        assert view.status.consecutive_failures == 0
        await poller.aclose()

    asyncio.run(scenario())


def test_a_failed_node_is_backed_off_and_not_scraped_before_its_time(refused_url: str) -> None:
    state = ClusterState()

    async def scenario() -> None:
        poller = Poller(state, None, interval_s=1.0, timeout_s=0.5)
        await poller.set_nodes([NodeConfig("refused", refused_url)])
        await poller.poll_round()
        first = state.view("refused").status  # type: ignore[union-attr]
        assert first.next_attempt is not None and first.next_attempt >= first.last_attempt + 1.0  # type: ignore[operator]
        await poller.poll_round()
        assert state.view("refused").status == first  # type: ignore[union-attr]
        await poller.aclose()

    asyncio.run(scenario())


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = BackoffPolicy(interval_s=2.0, max_delay_s=30.0)
    rng = random.Random(3)
    for failures, base in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)]:
        delays = {policy.delay(failures, rng) for _ in range(50)}
        assert all(base <= d <= base * 1.25 for d in delays)
        assert len(delays) > 40, "jitter spreads retries"
    assert policy.delay(10, rng) == 30.0


def test_a_locked_database_is_reported_and_polling_goes_on(demo_cluster: DemoCluster, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    state = ClusterState()

    async def scenario() -> None:
        history = HistoryWorker(lambda: HistoryStore(path, busy_timeout_ms=100))
        await history.open()
        poller = Poller(state, history.write_round, interval_s=1.0, timeout_s=0.5)
        await poller.set_nodes(_configs(demo_cluster))
        blocker = sqlite3.connect(path, timeout=0.1)
        blocker.execute("BEGIN EXCLUSIVE")
        await poller.poll_round()
        assert state.storage_error is not None and "locked" in state.storage_error
        assert state.count_up() == 3, "nodes keep updating while history cannot be written"
        blocker.rollback()
        blocker.close()
        _force_due(state)
        await poller.poll_round()
        assert state.storage_error is None
        assert {g.node for g in await history.known_gpus()} == {"node-1", "node-2", "node-3"}
        await poller.aclose()
        await history.close()

    asyncio.run(scenario())


def test_every_round_keeps_each_node_scrape_status_like_prometheus_up(
    demo_cluster: DemoCluster, refused_url: str, tmp_path: Path
) -> None:
    state = ClusterState()

    async def scenario() -> None:
        history = HistoryWorker(lambda: HistoryStore(tmp_path / "h.sqlite3"))
        await history.open()
        poller = Poller(state, history.write_round, interval_s=1.0, timeout_s=0.5)
        await poller.set_nodes([*_configs(demo_cluster)[:1], NodeConfig("refused", refused_url)])
        await poller.poll_round()
        now = time.time()
        up = await history.run(lambda s: s.scrape_history("node-1", now - 60, now + 1))
        down = await history.run(lambda s: s.scrape_history("refused", now - 60, now + 1))
        assert [r.state for r in up] == ["up"] and up[0].sample_count > 40 and up[0].scrape_ms > 0
        assert [r.state for r in down] == ["down"] and down[0].sample_count == 0
        await poller.aclose()
        await history.close()

    asyncio.run(scenario())


def test_new_timing_from_settings_reaches_running_nodes(demo_cluster: DemoCluster) -> None:
    state = ClusterState()

    async def scenario() -> None:
        poller = Poller(state, None, interval_s=2.0, timeout_s=1.5)
        await poller.set_nodes(_configs(demo_cluster)[:1])
        demo_cluster.set_scenario("node-1", "node-down")
        await poller.set_timing(1.0, 0.3)
        started = time.perf_counter()
        await poller.poll_round()
        assert time.perf_counter() - started < 0.9, "the hanging node is cut off at the new 0.3 s timeout"
        assert state.view("node-1").status.reason == "timed out after 0.3 s"  # type: ignore[union-attr]
        assert poller.backoff.interval_s == 1.0
        await poller.aclose()

    asyncio.run(scenario())
