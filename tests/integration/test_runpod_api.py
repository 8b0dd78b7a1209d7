"""The RunPod API client against a loopback server that answers like RunPod's GraphQL API."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from gpuwatch_desktop.provisioning.runpod_api import (
    RunPodApiError,
    RunPodClient,
    RunPodPod,
    retry_after,
    running_cost,
)
from tests.runpod_server import RunPodServer, pod

KEY = "rp-test-key-0123456789"


def call[T](url: str, work: Callable[[RunPodClient], Awaitable[T]], key: str = KEY, timeout_s: float = 5.0) -> T:
    async def run() -> T:
        client = RunPodClient(key, url=url, timeout_s=timeout_s)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def failure(url: str, work: Callable[[RunPodClient], Awaitable[object]], key: str = KEY,
            timeout_s: float = 5.0) -> RunPodApiError:
    with pytest.raises(RunPodApiError) as caught:
        call(url, work, key, timeout_s)
    assert KEY not in str(caught.value)
    return caught.value


def list_pods(client: RunPodClient) -> Awaitable[tuple[RunPodPod, ...]]:
    return client.pods()


def test_lists_pods_with_runtime_gpu_use() -> None:
    pods = [pod("abc123", "trainer", gpu="NVIDIA H100 80GB HBM3", count=2, cost=5.98, uptime=7260,
                util=(90.0, 70.0), mem=(60.0, 40.0)),
            pod("def456", "notebook", count=1, cost=0.49, running=False)]
    with RunPodServer(KEY, pods) as server:
        trainer, notebook = call(server.url, list_pods)
        request = server.recorded[0]
    assert trainer == RunPodPod(
        "abc123", "trainer", "RUNNING", "NVIDIA H100 80GB HBM3", 2, 5.98, "ghcr.io/gpuwatch/gpuwatch-pod:0.1.0",
        7260, trainer.gpus, (8002, 9400))
    assert [(g.util_percent, g.memory_percent) for g in trainer.gpus] == [(90.0, 60.0), (70.0, 40.0)]
    assert (trainer.status, trainer.gpu_util_percent, trainer.memory_percent) == ("running", 80.0, 50.0)
    assert (notebook.status, notebook.uptime_s, notebook.gpus, notebook.gpu_util_percent) == ("stopped", None, (), None)
    assert running_cost([trainer, notebook]) == pytest.approx(5.98)
    assert trainer.proxy_url(9400) == "https://abc123-9400.proxy.runpod.net"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in request.path  # never in the URL, where logs would keep it


def test_stop_then_start_changes_the_desired_status() -> None:
    with RunPodServer(KEY, [pod("abc123", "trainer", count=2)]) as server:
        assert call(server.url, lambda c: c.stop_pod("abc123")) == "EXITED"
        (stopped,) = call(server.url, list_pods)
        assert call(server.url, lambda c: c.start_pod("abc123", 2)) == "RUNNING"
        (started,) = call(server.url, list_pods)
    assert (stopped.status, stopped.uptime_s) == ("stopped", None)
    assert (started.status, started.gpu_count, started.uptime_s) == ("running", 2, 0)


def test_a_wrong_key_says_the_key_was_refused_and_where_to_make_one() -> None:
    with RunPodServer(KEY, [pod("abc123", "trainer")]) as server:
        error = failure(server.url, list_pods, key="rp-wrong")
    assert error.kind == "auth"
    assert "did not accept the API key (HTTP 401)" in str(error)
    assert "runpod.io/console/user/settings" in str(error)


def test_an_empty_key_fails_before_any_request() -> None:
    with pytest.raises(RunPodApiError, match="No RunPod API key") as caught:
        RunPodClient("  ")
    assert caught.value.kind == "auth"


def test_an_account_the_key_does_not_reach_is_an_auth_error() -> None:
    with RunPodServer(KEY) as server:
        server.fail_next(200, b'{"data": {"myself": null}}', {"Content-Type": "application/json"})
        error = failure(server.url, list_pods)
    assert error.kind == "auth"


def test_rate_limit_carries_retry_after() -> None:
    with RunPodServer(KEY, [pod("abc123", "trainer")]) as server:
        server.fail_next(429, b'{"error": "too many requests"}', {"Retry-After": "7"})
        error = failure(server.url, list_pods)
        (after,) = call(server.url, list_pods)  # the next request goes through
    assert (error.kind, error.retry_after_s) == ("rate_limit", 7.0)
    assert "rate limiting" in str(error) and "in 7 s" in str(error)
    assert after.id == "abc123"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("12") == 12.0
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == pytest.approx(10.0)
    assert retry_after("soon") is None
    assert retry_after(None) is None


@pytest.mark.parametrize(("status", "body", "kind", "says"), [
    (500, b"internal error", "server", "HTTP 500"),
    (502, b"<html>Bad Gateway</html>", "server", "HTTP 502"),
    (200, b"<html>cloudflare challenge</html>", "protocol", "not JSON ('<html>cloudflare challenge</html>')"),
    (200, b'["not", "graphql"]', "protocol", "not a GraphQL response"),
    (200, b'{"data": {"myself": {"pods": "lots"}}}', "protocol", "without a list of pods"),
    (200, b'{"data": {"myself": {"pods": [{"name": "no id"}]}}}', "protocol", "without an id"),
    (200, b'{"data": {"myself": {"pods": [{"id": "x", "gpuCount": "two"}]}}}', "protocol", "pod x"),
])
def test_broken_answers_are_named(status: int, body: bytes, kind: str, says: str) -> None:
    with RunPodServer(KEY) as server:
        server.fail_next(status, body, {"Content-Type": "application/json"})
        error = failure(server.url, list_pods)
    assert error.kind == kind
    assert says in str(error)


def test_a_refused_mutation_shows_runpods_reason() -> None:
    with RunPodServer(KEY, [pod("abc123", "trainer", running=False)]) as server:
        server.error_next("There are not enough free GPUs on the host machine to start this pod.")
        error = failure(server.url, lambda c: c.start_pod("abc123", 1))
        (still,) = call(server.url, list_pods)
    assert error.kind == "refused"
    assert "not enough free GPUs" in str(error)
    assert still.status == "stopped"


def test_an_unknown_pod_is_refused() -> None:
    with RunPodServer(KEY, [pod("abc123", "trainer")]) as server:
        error = failure(server.url, lambda c: c.stop_pod("gone99"))
    assert (error.kind, str(error)) == ("refused", "RunPod refused: Pod not found: gone99")


def test_nothing_listening_is_a_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = failure(f"http://127.0.0.1:{port}/graphql", list_pods)
    assert error.kind == "network"
    assert "Cannot reach RunPod's API (127.0.0.1)" in str(error)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/graphql"
        error = failure(url, list_pods, timeout_s=0.3)
    assert error.kind == "network"
    assert "did not answer in time" in str(error)


def test_the_test_server_refuses_fields_runpod_does_not_have() -> None:
    """The loopback server checks the query like RunPod's schema does, so a wrong field name fails a test."""
    with RunPodServer(KEY, [pod("abc123", "trainer")]) as server:
        async def wrong_field(client: RunPodClient) -> object:
            return await client._call("query { myself { pods { id gpuUtilization } } }", {})

        error = failure(server.url, wrong_field)
    assert error.kind == "refused"
    assert 'Cannot query field "gpuUtilization" on type "Pod"' in str(error)
