"""StreamTransport (plain http:// for httpx) over real loopback servers: connection reuse and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from gpuwatch_desktop.sources.http_transport import StreamTransport
from gpuwatch_desktop.sources.scrape import DcgmSource
from gpuwatch_pod.demo_cluster import DemoCluster

# script(writer, connection number, request number on it) answers one request; False closes the connection.
Script = Callable[[asyncio.StreamWriter, int, int], Awaitable[bool]]


def response(body: bytes = b"hello\n", status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


class Loopback:
    """A scripted HTTP/1.1 server in the test's event loop; counts connections and requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.client_closed = 0  # connections the client closed while the server waited for a request
        self.finished = 0  # connections the server is done with
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        number, self.connections = self.connections, self.connections + 1
        try:
            for request in itertools.count():
                try:
                    self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                except asyncio.IncompleteReadError:
                    self.client_closed += 1
                    return
                if not await self.script(writer, number, request):
                    return
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            self.finished += 1

    @contextlib.asynccontextmanager
    async def running(self, tls: ssl.SSLContext | None = None) -> AsyncIterator[Loopback]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics"
        try:
            yield self
        finally:
            server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def answer(writer: asyncio.StreamWriter, data: bytes, keep: bool = True) -> bool:
    writer.write(data)
    return keep


def client(timeout: float = 2.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=StreamTransport(), timeout=timeout)


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def counting_proxy(target: str) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP relay in front of ``target`` (a URL); yields its URL and a one-item list: connections accepted."""
    url = httpx.URL(target)
    accepted = [0]

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{url.raw_path.decode()}", accepted


def test_sequential_scrapes_of_the_exporter_reuse_one_connection(demo_cluster: DemoCluster) -> None:
    async def scenario() -> None:
        async with counting_proxy(demo_cluster.nodes[0][1]) as (url, accepted):
            source = DcgmSource("node-1", url, timeout_s=2.0)
            snapshots = [await source.poll() for _ in range(20)]
            await source.aclose()
        assert accepted == [1]
        assert all(len(s.gpus) == 4 and s.hostname == "node-1" and s.sample_count > 40 for s in snapshots)

    asyncio.run(scenario())


def test_a_keep_alive_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def scenario() -> None:
        hang_up = Loopback(lambda w, c, r: answer(w, response(b"conn %d\n" % c), keep=False))
        async with hang_up.running() as server, client() as http:
            first = await http.get(server.url)
            await wait_for(lambda: server.finished == 1)
            await asyncio.sleep(0.05)  # idle: the client's end has seen the close
            second = await http.get(server.url)
        assert (first.text, second.text) == ("conn 0\n", "conn 1\n")
        assert server.connections == 2

    asyncio.run(scenario())


def test_a_kept_connection_dropped_as_the_request_arrives_is_retried_once_on_a_fresh_one() -> None:
    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        if conn == 0 and request == 1:
            return False  # reads the second request, then hangs up without a byte: the idle-timeout race
        return await answer(writer, response(b"conn %d request %d\n" % (conn, request)))

    async def scenario() -> None:
        async with Loopback(script).running() as server, client() as http:
            texts = [(await http.get(server.url)).text for _ in range(3)]
        assert texts == ["conn 0 request 0\n", "conn 1 request 0\n", "conn 1 request 1\n"]
        assert server.connections == 2 and len(server.requests) == 4

    asyncio.run(scenario())


def test_a_server_that_always_hangs_up_is_retried_only_once() -> None:
    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        return conn == 0 and request == 0 and await answer(writer, response())

    async def scenario() -> None:
        async with Loopback(script).running() as server, client() as http:
            assert (await http.get(server.url)).status_code == 200
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.get(server.url)
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.get(server.url)  # a fresh connection fails: no retry
        assert server.connections == 3 and len(server.requests) == 4

    asyncio.run(scenario())


def test_a_kept_connection_failing_after_response_bytes_is_not_retried() -> None:
    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        if request == 0:
            return await answer(writer, response())
        return await answer(writer, b"HTTP/1.1 200 OK\r\nContent-Le", keep=False)

    async def scenario() -> None:
        async with Loopback(script).running() as server, client() as http:
            await http.get(server.url)
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(server.url)
        assert server.connections == 1 and len(server.requests) == 2

    asyncio.run(scenario())


def test_a_chunked_response_is_read_whole_and_the_connection_kept() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n")

    async def scenario() -> None:
        async with Loopback(lambda w, c, r: answer(w, chunked)).running() as server, client() as http:
            texts = [(await http.get(server.url)).text for _ in range(3)]
        assert texts == ["hello world\n"] * 3 and server.connections == 1

    asyncio.run(scenario())


def test_connection_close_and_read_to_end_responses_open_a_new_connection_each() -> None:
    closing = response(b"closing\n", extra=b"Connection: close\r\n")
    to_end = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\n"

    async def script(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        return await answer(writer, closing if conn % 2 == 0 else to_end, keep=False)

    async def scenario() -> None:
        async with Loopback(script).running() as server, client() as http:
            texts = [(await http.get(server.url)).text for _ in range(4)]
        assert texts == ["closing\n", "until the end\n"] * 2 and server.connections == 4

    asyncio.run(scenario())


def test_concurrent_requests_each_get_a_connection_and_one_is_kept() -> None:
    async def slow(writer: asyncio.StreamWriter, conn: int, request: int) -> bool:
        await asyncio.sleep(0.1)
        return await answer(writer, response(b"conn %d\n" % conn))

    async def scenario() -> None:
        async with Loopback(slow).running() as server, client() as http:
            replies = await asyncio.gather(*(http.get(server.url) for _ in range(3)))
            assert sorted(r.text for r in replies) == ["conn 0\n", "conn 1\n", "conn 2\n"]
            await http.get(server.url)
            await wait_for(lambda: server.client_closed == 2)
            assert (server.connections, server.client_closed) == (3, 2)

    asyncio.run(scenario())


def test_closing_the_client_closes_its_connection() -> None:
    async def scenario() -> None:
        async with Loopback(lambda w, c, r: answer(w, response())).running() as server:
            async with client() as http:
                await http.get(server.url)
                await asyncio.sleep(0.05)
                assert server.client_closed == 0
            await wait_for(lambda: server.client_closed == 1)
            assert server.client_closed == 1

    asyncio.run(scenario())
