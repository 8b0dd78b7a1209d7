"""StreamTransport's failures against real loopback servers: each ends as the httpx error the caller expects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from pathlib import Path

import httpx
import pytest

from gpuwatch_desktop.core.errors import ScrapeError
from gpuwatch_desktop.sources.scrape import MAX_PAYLOAD_BYTES, DcgmSource
from gpuwatch_pod.demo_cluster import DemoCluster
from tests.integration.notify_servers import make_tls_files
from tests.integration.test_http_transport import Loopback, answer, client, response, wait_for


def test_a_hanging_exporter_times_out_within_the_read_timeout(demo_cluster: DemoCluster) -> None:
    demo_cluster.set_scenario("node-1", "node-down")

    async def scenario() -> float:
        async with client(timeout=0.3) as http:
            started = time.perf_counter()
            with pytest.raises(httpx.ReadTimeout):
                await http.get(demo_cluster.nodes[0][1])
            return time.perf_counter() - started

    assert 0.3 <= asyncio.run(scenario()) < 1.0


def test_a_late_answer_after_a_timeout_never_reaches_the_next_request() -> None:
    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        if conn == 0:
            await asyncio.sleep(0.4)
        return await answer(writer, response(b"conn %d request %d\n" % (conn, request)))

    async def scenario() -> None:
        async with Loopback(script).running() as server, client(timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(server.url)
            await asyncio.sleep(0.3)  # the late answer has arrived by now
            assert (await http.get(server.url)).text == "conn 1 request 0\n"
            await wait_for(lambda: server.client_closed == 1)
            assert server.client_closed == 1, "the timed-out connection was closed"

    asyncio.run(scenario())


def test_a_refused_port_is_a_connect_error_naming_the_cause(refused_url: str) -> None:
    async def scenario() -> None:
        async with client() as http:
            with pytest.raises(httpx.ConnectError, match=r"^\[Errno 111\] Connection refused$"):
                await http.get(refused_url)

    asyncio.run(scenario())


def test_a_full_accept_queue_is_a_connect_timeout() -> None:
    """Linux drops SYNs to a listener whose backlog is full, so connecting hangs until the timeout."""
    with socket.socket() as listener, contextlib.ExitStack() as stack:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(listener.getsockname())

        async def scenario() -> None:
            async with client(timeout=0.3) as http:
                with pytest.raises(httpx.ConnectTimeout):
                    await http.get(f"http://127.0.0.1:{listener.getsockname()[1]}/metrics")

        asyncio.run(scenario())


def test_a_server_speaking_something_else_is_a_protocol_error() -> None:
    async def scenario() -> None:
        garbage = b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n\r\n"
        async with Loopback(lambda w, c, r: answer(w, garbage)).running() as server, client() as http:
            started = time.perf_counter()
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(server.url)
            assert time.perf_counter() - started < 1.0, "known at once, not at the timeout"

    asyncio.run(scenario())


def test_a_server_dying_mid_body_is_an_error_not_a_short_body() -> None:
    async def cut(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 400)
        if conn == 1:  # reset instead of an orderly close
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await writer.drain()
        return False

    async def scenario() -> None:
        async with Loopback(cut).running() as server, client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="received 400 bytes, expected 1000"):
                await http.get(server.url)
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await http.get(server.url)

    asyncio.run(scenario())


def test_an_oversized_payload_is_refused_and_its_connection_not_reused() -> None:
    big = MAX_PAYLOAD_BYTES + 2**20

    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        if conn == 1:
            return await answer(writer, response(b"busy\n", b"503 Service Unavailable"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big)
        for _ in range(big // 2**20):
            writer.write(b"\0" * 2**20)
            await writer.drain()
        return True

    async def scenario() -> None:
        async with Loopback(script).running() as server:
            source = DcgmSource("big", server.url, timeout_s=5.0)
            with pytest.raises(ScrapeError, match="payload larger than 16 MiB"):
                await source.poll()
            with pytest.raises(ScrapeError) as second:
                await source.poll()
            await source.aclose()
        assert second.value.reason == "HTTP 503 Service Unavailable"
        assert server.connections == 2

    asyncio.run(scenario())


def test_status_and_reason_pass_through(http_503_url: str) -> None:
    async def scenario() -> None:
        async with client() as http:
            reply = await http.get(http_503_url)
        assert (reply.status_code, reply.reason_phrase, reply.text) == (503, "Service Unavailable",
                                                                       "service unavailable\n")

    asyncio.run(scenario())


def test_a_request_body_that_cannot_be_sent_is_a_write_timeout() -> None:
    async def never_reads(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        await asyncio.sleep(30)
        return False

    async def scenario() -> None:
        async with Loopback(never_reads).running() as server, client(timeout=0.3) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(server.url, content=b"x" * 64 * 2**20)

    asyncio.run(scenario())


def test_https_is_refused_by_the_transport() -> None:
    async def scenario() -> None:
        async with client() as http:
            with pytest.raises(httpx.UnsupportedProtocol, match="plain http:// only"):
                await http.get("https://127.0.0.1:1/metrics")

    asyncio.run(scenario())


def test_https_nodes_keep_httpx_tls_and_its_certificate_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = make_tls_files(tmp_path)
    busy = response(b"busy\n", b"503 Service Unavailable")

    async def poll_reason(url: str) -> str:
        source = DcgmSource("tls", url, timeout_s=2.0)
        try:
            with pytest.raises(ScrapeError) as failure:
                await source.poll()
            return failure.value.reason
        finally:
            await source.aclose()

    async def scenario() -> tuple[str, str]:
        async with Loopback(lambda w, c, r: answer(w, busy)).running(tls.server_context()) as server:
            untrusted = await poll_reason(server.url)
            monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))  # httpx's default transport trusts it now
            return untrusted, await poll_reason(server.url)

    untrusted, trusted = asyncio.run(scenario())
    assert untrusted.startswith("cannot connect") and "CERTIFICATE_VERIFY_FAILED" in untrusted
    assert trusted == "HTTP 503 Service Unavailable"
