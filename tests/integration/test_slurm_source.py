"""SlurmClient and SlurmService against the real pod Slurm exporter on loopback, serving the simulated cluster.

The simulation runs on a frozen clock, so every collection is the same snapshot and what the app read can be
compared with what the exporter's source said.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.core.slurm import SlurmStatus
from gpuwatch_desktop.services.slurm_service import TASK_NAME, SlurmService
from gpuwatch_desktop.sources.slurm import SlurmClient, SlurmSourceError
from gpuwatch_pod.slurm_exporter import SlurmExporter
from gpuwatch_pod.slurm_sim import DRAIN_REASON, SimSlurm
from tests.integration.slurm_support import T0, BreakableSlurm, serving
from tests.unit.test_secrets import MemoryKeyring

TOKEN = "pod-t0ken-s3cret"


def simulation() -> SimSlurm:
    return SimSlurm(["node-1", "node-2"], seed=4, drained_node="node-3", clock=lambda: T0)


@pytest.fixture
def source() -> BreakableSlurm:
    return BreakableSlurm(simulation())


@pytest.fixture
def exporter(source: BreakableSlurm) -> Iterator[SlurmExporter]:
    with serving(source) as running:
        yield running


def run[T](make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


async def read_status(url: str, token: str | None = None, **kwargs: float) -> SlurmStatus:
    client = SlurmClient(url, token, node="head", **kwargs)
    try:
        return await client.status()
    finally:
        await client.aclose()


def test_the_client_reads_what_the_exporter_serves(exporter: SlurmExporter, source: BreakableSlurm) -> None:
    status = run(lambda: read_status(exporter.url + "/metrics"))  # a pasted metrics URL works too
    truth = source.sim.collect()
    assert status.url == exporter.url and status.error is None and status.collected_at == T0
    assert [(n.name, n.state, n.gpus_alloc, n.gpus_total, n.cpus_alloc) for n in status.nodes] == [
        (n.name, n.state, n.gpus_alloc, n.gpus_total, n.cpus_alloc) for n in truth.nodes]
    drained = status.nodes[-1]
    assert (drained.name, drained.state, drained.reason, drained.level) == ("node-3", "drained", DRAIN_REASON, "warn")
    assert [(p.name, p.default) for p in status.partitions] == [("gpu", True), ("debug", False)]
    assert [(j.id, j.state, j.user, j.gpus, j.submit_time) for j in status.jobs] == [
        (j.id, j.state, j.user, j.gpus, j.submit_time) for j in truth.jobs]
    totals = status.totals
    assert (totals.nodes_total, totals.gpus_total, totals.cpus_total) == (3, 24, 192)
    assert totals.gpus_alloc == sum(n.gpus_alloc for n in truth.nodes) > 0
    assert totals.jobs_running + totals.jobs_pending + totals.jobs_other == len(truth.jobs)


def test_jobs_can_be_filtered_by_the_exporter(exporter: SlurmExporter, source: BreakableSlurm) -> None:
    user = source.sim.collect().jobs[0].user

    async def go() -> tuple[list[str], list[str]]:
        client = SlurmClient(exporter.url)
        try:
            pending = await client.jobs(states=("pending",))
            mine = await client.jobs(user=user)
        finally:
            await client.aclose()
        return [j.state for j in pending.jobs], [j.user for j in mine.jobs]

    states, users = run(go)
    truth = source.sim.collect().jobs
    assert states == ["PENDING"] * sum(j.state == "PENDING" for j in truth)
    assert users == [user] * sum(j.user == user for j in truth)


def test_a_token_protected_exporter_says_whether_the_token_is_missing_or_wrong(source: BreakableSlurm) -> None:
    with serving(source, token=TOKEN) as exporter:
        with pytest.raises(SlurmSourceError) as missing:
            run(lambda: read_status(exporter.url))
        with pytest.raises(SlurmSourceError) as wrong:
            run(lambda: read_status(exporter.url, "not-the-token"))
        assert run(lambda: read_status(exporter.url, TOKEN)).nodes
    assert str(missing.value) == (
        f"the Slurm exporter at {exporter.url} needs an access token (HTTP 401 Unauthorized): store the pod's "
        "GPUWATCH_POD_TOKEN in the keyring as node-token:head (keyring set gpuwatch node-token:head)")
    assert missing.value.unauthorized and wrong.value.unauthorized
    assert "refused the access token (HTTP 401 Unauthorized)" in str(wrong.value)
    assert "not-the-token" not in str(wrong.value)


def test_a_wrong_path_refused_port_and_silent_server_say_what_failed(exporter: SlurmExporter,
                                                                     refused_url: str) -> None:
    with pytest.raises(SlurmSourceError) as wrong_path:
        run(lambda: read_status(exporter.url + "/slurm"))
    assert str(wrong_path.value) == (f"HTTP 404 Not Found from {exporter.url}/slurm/nodes: the Slurm URL should "
                                     "be the exporter's base URL, like http://host:9341")
    with pytest.raises(SlurmSourceError, match=r"^cannot connect to the Slurm exporter at http://127\.0\.0\.1:\d+ "
                                               r"\(.*\); check that it runs on the head node"):
        run(lambda: read_status(refused_url))
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(SlurmSourceError) as slow:
            run(lambda: read_status(url, timeout_s=0.3))
    assert str(slow.value) == f"the Slurm exporter at {url} did not answer within 0.3 s; check that the head node is up"


def test_a_server_that_is_not_the_exporter_gets_a_clear_message(http_503_url: str) -> None:
    base = http_503_url.removesuffix("/metrics")
    with pytest.raises(SlurmSourceError) as caught:
        run(lambda: read_status(base))
    assert str(caught.value) == f"the Slurm exporter at {base} answered HTTP 503 Service Unavailable for {base}/nodes"


def head(url: str) -> NodeConfig:
    return NodeConfig("head", "http://127.0.0.1:9/metrics", slurm_url=url)


def test_the_service_keeps_the_last_data_marked_stale(exporter: SlurmExporter, source: BreakableSlurm) -> None:
    async def go() -> list[SlurmStatus]:
        service = SlurmService(interval_s=3600)
        seen: list[SlurmStatus] = []
        await service.set_nodes([NodeConfig("gpu-only", "http://127.0.0.1:9/metrics"), head(exporter.url)])
        try:
            for step in ("good", "exporter error", "exporter down"):
                if step == "exporter error":
                    source.failure = "squeue timed out after 10 s"
                if step == "exporter down":
                    exporter.close()
                status = await service.refresh()
                assert status is not None and service.latest is status
                seen.append(status)
        finally:
            await service.aclose()
        return seen

    good, failing, down = run(go)
    assert good.error is None and not good.stale and good.node == "head" and len(good.nodes) == 3
    assert failing.stale and failing.error == "the Slurm exporter reports: squeue timed out after 10 s"
    assert (failing.nodes, failing.jobs, failing.collected_at) == (good.nodes, good.jobs, T0)
    assert down.stale and down.error is not None and down.error.startswith("cannot connect to the Slurm exporter")
    assert (down.nodes, down.jobs, down.collected_at) == (good.nodes, good.jobs, T0)
    assert down.fetched_at >= failing.fetched_at >= good.fetched_at


def test_an_exporter_that_never_collected_has_no_data(source: BreakableSlurm) -> None:
    source.failure = "sinfo: command not found"
    with serving(source) as exporter:
        status = run(lambda: read_status(exporter.url))
    assert not status.has_data and status.error == "the Slurm exporter reports: sinfo: command not found"


def test_the_service_polls_as_a_named_task_and_stops_cleanly(exporter: SlurmExporter) -> None:
    async def go() -> tuple[int, bool, bool]:
        service = SlurmService(interval_s=3600)
        fetched = asyncio.Event()
        fetches = 0

        def on_change() -> None:
            nonlocal fetches
            if service.latest is not None and not service.fetching:
                fetches += 1
                fetched.set()

        service.subscribe(on_change)
        await service.set_nodes([head(exporter.url)])
        assert [t.get_name() for t in asyncio.all_tasks() if t.get_name() == TASK_NAME] == [TASK_NAME]
        await asyncio.wait_for(fetched.wait(), 10)
        fetched.clear()
        service.request_refresh()  # an hour early
        await asyncio.wait_for(fetched.wait(), 10)
        await service.aclose()
        still_polling = any(t.get_name() == TASK_NAME for t in asyncio.all_tasks())
        return fetches, still_polling, service.connected()

    fetches, still_polling, connected = run(go)
    assert fetches == 2 and not still_polling and connected


def test_without_a_slurm_url_the_service_is_not_connected_and_says_how_to_fix_it() -> None:
    async def go() -> tuple[bool, str]:
        service = SlurmService()
        await service.set_nodes([NodeConfig("gpu-only", "http://127.0.0.1:9/metrics")])
        try:
            with pytest.raises(SlurmSourceError) as caught:
                await service.status()
            return service.connected(), str(caught.value)
        finally:
            await service.aclose()

    connected, message = run(go)
    assert not connected
    assert message == "no Slurm exporter is configured: add the head node's Slurm URL in Settings → Nodes"


def test_the_token_comes_from_the_keyring_and_is_read_again_after_a_401(source: BreakableSlurm) -> None:
    keyring = MemoryKeyring()
    secrets = SecretStore("gpuwatch-test", backend=keyring)

    async def go(exporter: SlurmExporter) -> tuple[SlurmStatus | None, SlurmStatus | None]:
        service = SlurmService(secrets, interval_s=3600)
        await service.set_nodes([head(exporter.url)])
        try:
            refused = await service.refresh()
            keyring.set_password("gpuwatch-test", "node-token:head", TOKEN)  # the user stores it meanwhile
            return refused, await service.refresh()
        finally:
            await service.aclose()

    with serving(source, token=TOKEN) as exporter:
        refused, accepted = run(lambda: go(exporter))
    assert refused is not None and refused.error is not None and not refused.has_data
    assert refused.error.startswith(f"the Slurm exporter at {exporter.url} needs an access token (HTTP 401")
    assert accepted is not None and accepted.error is None and len(accepted.nodes) == 3
