"""Plain ``http://`` for httpx over asyncio streams: one kept-alive connection, h11 for the framing.

httpx's default transport (httpcore) spends most of a scrape's CPU in its connection-pool machinery
(measured ~60 ms of CPU per 64 scrapes against ~25 ms with this one); a scraper asks one node for
one payload at a time, so one kept connection is all it needs. Errors are httpx's own types, so
callers handle them exactly as with the default transport. No TLS: ``https://`` stays with httpx's
default transport (verification, proxies, HTTP/2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11
import httpx

_READ_SIZE = 64 * 1024
_NO_RESPONSE = "Server disconnected without sending a response."
_END_OF_MESSAGE = h11.EndOfMessage()  # immutable: one for every request (building one validates its headers)
_H11Event = h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]
_HeadKey = tuple[str, bytes, list[tuple[bytes, bytes]]]


@dataclass(frozen=True, slots=True)
class _Timeouts:
    connect: float | None
    read: float | None
    write: float | None

    @classmethod
    def of(cls, request: httpx.Request) -> _Timeouts:
        """From the ``timeout`` extension httpx sets on every request (no limit where absent)."""
        given = request.extensions.get("timeout", {})
        return cls(given.get("connect"), given.get("read"), given.get("write"))


class _Connection:
    """One TCP connection and its HTTP/1.1 state."""

    __slots__ = ("h11", "reader", "received", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.received = False  # a byte of the current response has arrived

    def idle_and_open(self) -> bool:
        """Ready for the next request: the last exchange finished and the server has not hung up."""
        return (
            self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE
            and not self.reader.at_eof() and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class StreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one persistent asyncio connection, reopened once if the server dropped it while idle.

    Safe for concurrent requests (a request that finds the connection busy opens its own, which
    is closed afterwards unless none is kept). Responses stream their body.
    """

    def __init__(self) -> None:
        self._idle: _Connection | None = None
        self._closed = False
        self._head: tuple[_HeadKey, h11.Request] | None = None  # the last request head, validated once

    def _request_head(self, request: httpx.Request) -> h11.Request:
        """h11's event for the request line and headers; a scraper sends the same one every time."""
        key = (request.method, request.url.raw_path, request.headers.raw)
        if self._head is None or self._head[0] != key:
            try:
                self._head = key, h11.Request(method=key[0], target=key[1], headers=key[2])
            except h11.LocalProtocolError as exc:
                raise httpx.LocalProtocolError(str(exc), request=request) from None
        return self._head[1]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"StreamTransport speaks plain http:// only, not {request.url.scheme}:// (no TLS)", request=request
            )
        timeouts = _Timeouts.of(request)
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._exchange(conn, request, timeouts)
            except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
                if conn.received or not isinstance(request.stream, httpx.ByteStream):
                    raise  # response bytes arrived (or the body cannot be sent again): never retried
        conn = await _connect(request, timeouts.connect)
        return await self._exchange(conn, request, timeouts)

    async def aclose(self) -> None:
        self._closed = True
        conn, self._idle = self._idle, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

    def _take_idle(self) -> _Connection | None:
        conn, self._idle = self._idle, None
        if conn is not None and not conn.idle_and_open():
            conn.close()
            return None
        return conn

    def _release(self, conn: _Connection) -> None:
        """Keep a connection whose exchange finished cleanly (if none is kept yet); close it otherwise."""
        state = conn.h11
        clean = state.our_state is h11.DONE and state.their_state is h11.DONE and not state.trailing_data[0]
        if clean and not self._closed and self._idle is None:
            state.start_next_cycle()
            self._idle = conn
        else:
            conn.close()

    async def _exchange(self, conn: _Connection, request: httpx.Request, timeouts: _Timeouts) -> httpx.Response:
        """Send the request and read the response head; the connection is closed on any failure."""
        conn.received = False
        try:
            await _send_request(conn, request, self._request_head(request), timeouts.write)
            event = await _next_event(conn, request, timeouts.read)
            while isinstance(event, h11.InformationalResponse):
                event = await _next_event(conn, request, timeouts.read)
        except BaseException:
            conn.close()
            raise
        if not isinstance(event, h11.Response):
            conn.close()
            raise httpx.RemoteProtocolError(f"expected a response head, got {type(event).__name__}", request=request)
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers.raw_items(),
            stream=_ResponseStream(self, conn, request, timeouts.read),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason},
        )


class _ResponseStream(httpx.AsyncByteStream):
    """The response body as it arrives; hands the connection back when it ended cleanly."""

    def __init__(self, owner: StreamTransport, conn: _Connection, request: httpx.Request, timeout: float | None):
        self._owner = owner
        self._conn: _Connection | None = conn
        self._request = request
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        try:
            while True:
                event = await _next_event(conn, self._request, self._timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
        except BaseException:  # includes GeneratorExit: the reader stopped early
            self._discard()
            raise
        self._conn = None
        self._owner._release(conn)

    async def aclose(self) -> None:
        self._discard()

    def _discard(self) -> None:
        """Before the body's end the connection is unusable: close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


async def _connect(request: httpx.Request, timeout: float | None) -> _Connection:
    url = request.url
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(url.host, url.port or 80, limit=_READ_SIZE)
    except TimeoutError:
        raise httpx.ConnectTimeout(f"no connection{_within(timeout)}", request=request) from None
    except OSError as exc:
        raise httpx.ConnectError(_os_message(exc), request=request) from None
    return _Connection(reader, writer)


async def _send_request(conn: _Connection, request: httpx.Request, head: h11.Request, timeout: float | None) -> None:
    state = conn.h11
    assert isinstance(request.stream, httpx.AsyncByteStream)  # as httpx's own async transport asserts
    try:
        parts = [state.send(head)]
        async for chunk in request.stream:
            if chunk:
                parts.append(state.send(h11.Data(data=chunk)))
        parts.append(state.send(_END_OF_MESSAGE))
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from None
    try:
        conn.writer.write(b"".join(part for part in parts if part))
        async with asyncio.timeout(timeout):
            await conn.writer.drain()
    except TimeoutError:
        raise httpx.WriteTimeout(f"request not sent{_within(timeout)}", request=request) from None
    except OSError as exc:
        raise httpx.WriteError(_os_message(exc), request=request) from None


async def _next_event(conn: _Connection, request: httpx.Request, timeout: float | None) -> _H11Event:
    """The next h11 event of the response, reading from the socket as needed."""
    state = conn.h11
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        if event is not h11.NEED_DATA:
            return event
        try:
            async with asyncio.timeout(timeout):
                data = await conn.reader.read(_READ_SIZE)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no response data{_within(timeout)}", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(_os_message(exc), request=request) from None
        if not data and not conn.received:
            raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
        conn.received = True
        state.receive_data(data)


def _within(timeout: float | None) -> str:
    return f" within {timeout:g} s" if timeout is not None else ""


def _os_message(exc: OSError) -> str:
    """``[Errno 111] Connection refused`` rather than asyncio's ``Connect call failed (...)``."""
    if exc.errno is not None and exc.errno > 0:
        return f"[Errno {exc.errno}] {os.strerror(exc.errno)}"
    return str(exc) or type(exc).__name__
