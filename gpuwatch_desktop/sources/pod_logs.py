"""The pod log server's client (port 8002): list, tail and follow logs over async httpx.

One failure policy: every failure ends as a ``LogServerError`` whose text is shown to the user as is —
``LogAuthError`` (401: no or wrong token), ``LogNotFoundError`` (404: no such log, or its file does not
exist yet) and plain ``LogServerError`` (cannot connect, timed out, HTTP errors, bad replies).
``follow`` survives dropped connections: it reconnects with backoff and fills in the lines written
meanwhile from a tail, so a server restart or a network blip loses nothing that is still in the file.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import random
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.core.errors import GpuwatchError
from gpuwatch_desktop.sources.sse import SseParser

DEFAULT_TIMEOUT_S = 5.0
SILENCE_S = 20.0  # the server sends a heartbeat every 5 s: this long without a byte means the link is dead
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
GAP_LINES = 2000  # lines fetched on reconnect to fill in what was written meanwhile
ANCHOR_LINES = 20  # the last lines received, looked for in that tail to find where to resume
MAX_TAIL = 5000  # the server's limit
MISSING_FILE = "log file does not exist yet"


class LogServerError(GpuwatchError):
    """The log server could not be asked or answered badly; ``reason`` is short and shown as is."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LogAuthError(LogServerError):
    """401: the node's access token is missing or wrong (retrying will not help)."""


class LogNotFoundError(LogServerError):
    """404: the server has no log of that name, or (``missing_file``) its file does not exist yet."""

    def __init__(self, reason: str, missing_file: bool = False) -> None:
        self.missing_file = missing_file
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class LogInfo:
    name: str
    size: int
    modified: float | None  # None: the file does not exist yet


@dataclass(frozen=True, slots=True)
class FollowStatus:
    """How following is going: ``connected``, or why not and when the next try is (``retry_in_s``)."""

    connected: bool
    message: str = ""
    retry_in_s: float = 0.0
    gap: bool = False  # lines written while disconnected may be missing here


OnStatus = Callable[[FollowStatus], None]
Lines = list[str]  # (inside PodLogClient, ``list`` is its method)


class PodLogClient:
    """One node's log server at ``base_url`` (e.g. http://10.0.0.5:8002), with its bearer token if any."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 backoff_s: Sequence[float] = BACKOFF_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.has_token = bool(token)
        self.timeout_s = timeout_s
        self.backoff_s = tuple(backoff_s)
        headers = {"User-Agent": "gpuwatch-desktop"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                         verify=shared_ssl_context())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def list(self) -> builtins.list[LogInfo]:
        """Every log the server serves, by name."""
        body = await self._get_text("/logs")
        try:
            return [_log_info(item) for item in _json_list(body)]
        except (ValueError, KeyError, TypeError) as exc:
            raise LogServerError(f"bad reply from {self.base_url}/logs: {exc}") from None

    async def tail(self, name: str, lines: int = 200) -> Lines:
        """The last ``lines`` lines (at most 5000) of log ``name``."""
        lines = max(0, min(lines, MAX_TAIL))
        text = await self._get_text(f"/logs/{quote(name, safe='')}", {"lines": str(lines)}, name)
        return text.splitlines()

    async def follow(self, name: str, backlog: int = 0, on_status: OnStatus | None = None) -> AsyncIterator[str]:
        """The last ``backlog`` lines, then every line appended to log ``name``, for as long as it is iterated.

        Reconnects with backoff when the connection drops (``on_status`` is told), then fills in the lines
        written meanwhile from a tail (a line written during that round trip may come twice; when the
        last lines seen are no longer in the file, e.g. it was replaced, ``FollowStatus.gap`` says lines
        may be missing). Raises LogAuthError, or LogNotFoundError (no such log): retrying will not help.
        """
        seen: deque[str] = deque(maxlen=ANCHOR_LINES)
        history_known = backlog > 0  # seen reflects the file's end (else only what came since connecting)
        attempt, connected_before = 0, False
        while not self._client.is_closed:  # closed: the node was removed or reconfigured, following ends
            try:
                # The first request asks for the backlog with it: the server sends it from the file it
                # follows, so nothing falls between the two; after a reconnect the gap is filled from a tail.
                async with self._stream(name, 0 if connected_before else backlog) as response:
                    attempt = 0
                    missed = await self._missed(name, list(seen), history_known or bool(seen)) if connected_before \
                        else []
                    connected_before = True
                    _tell(on_status, FollowStatus(True, "following", gap=missed is None))
                    for line in missed or ():
                        seen.append(line)
                        yield line
                    async for line in self._events(response):
                        seen.append(line)
                        yield line
                reason = "the server closed the connection"
            except (LogAuthError, LogNotFoundError):
                raise
            except LogServerError as exc:
                reason = exc.reason
            except httpx.HTTPError as exc:
                reason = self._reason(exc)
            if self._client.is_closed:
                return
            delay = self._delay(attempt)
            attempt += 1
            _tell(on_status, FollowStatus(False, reason, delay))
            await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def _stream(self, name: str, backlog: int) -> AsyncIterator[httpx.Response]:
        """The follow request's response, once it is a 200 (else the matching LogServerError)."""
        url = f"/logs/{quote(name, safe='')}/follow"
        params = {"lines": str(min(backlog, MAX_TAIL))} if backlog > 0 else None
        async with self._client.stream("GET", url, params=params,
                                       timeout=httpx.Timeout(self.timeout_s, read=SILENCE_S)) as response:
            await self._check(response, name)
            yield response

    async def _missed(self, name: str, seen: Lines, known: bool) -> Lines | None:
        """The lines written since the last ones seen; None when that cannot be told (some may be missing)."""
        if not known:
            return None
        try:
            tail = await self.tail(name, GAP_LINES)
        except LogNotFoundError as exc:
            if exc.missing_file:
                return []
            raise
        except LogServerError:
            return None
        return lines_after(tail, seen)

    @staticmethod
    async def _events(response: httpx.Response) -> AsyncIterator[str]:
        parser = SseParser()
        async for chunk in response.aiter_bytes():
            for data in parser.feed(chunk):
                yield data

    def _delay(self, attempt: int) -> float:
        base = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
        return base * random.uniform(0.8, 1.2)  # jitter: many viewers do not all come back at once

    async def _get_text(self, path: str, params: dict[str, str] | None = None, name: str = "") -> str:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise LogServerError(self._reason(exc)) from None
        await self._check(response, name)
        return response.text

    async def _check(self, response: httpx.Response, name: str) -> None:
        """Raise the matching LogServerError unless the response is a 200."""
        if response.status_code == 200:
            return
        body = (await response.aread()).decode("utf-8", "replace").strip()
        if response.status_code == 401:
            if self.has_token:
                raise LogAuthError("401: the node's access token is wrong — set it in Settings → Nodes")
            raise LogAuthError("401: the node's log server needs an access token — set it in Settings → Nodes")
        if response.status_code == 404 and name:
            if body == MISSING_FILE:
                raise LogNotFoundError(f"the {name} log file does not exist yet (nothing written)", True)
            raise LogNotFoundError(f"the log server at {self.base_url} has no log named {name!r}")
        detail = f": {body[:200]}" if body else ""
        raise LogServerError(f"HTTP {response.status_code} {response.reason_phrase} from {self.base_url}{detail}")

    def _reason(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer from {self.base_url} (timed out)"
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to {self.base_url}: {_connect_reason(exc)}"
        if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return f"bad log server URL {self.base_url!r}: {_first_line(exc)}"
        return f"connection to {self.base_url} failed: {_first_line(exc)}"


def lines_after(tail: list[str], seen: list[str]) -> list[str] | None:
    """The lines of ``tail`` after the last place ``seen`` (the last lines received) ends in it.

    ``seen`` empty: every line is new. Not found: None (the file was replaced or too much was written).
    """
    if not seen:
        return list(tail)
    for size in sorted({len(seen), min(len(seen), 5)}, reverse=True):  # the whole anchor, else its last lines
        anchor = seen[-size:]
        for end in range(len(tail), size - 1, -1):
            if tail[end - size:end] == anchor:
                return tail[end:]
    return None


def _tell(on_status: OnStatus | None, status: FollowStatus) -> None:
    if on_status is not None:
        on_status(status)


def _json_list(body: str) -> list[Any]:
    value = json.loads(body)
    if not isinstance(value, list):
        raise TypeError("expected a JSON list")
    return value


def _log_info(item: Any) -> LogInfo:
    modified = item.get("modified")
    return LogInfo(str(item["name"]), int(item.get("size") or 0), float(modified) if modified is not None else None)


def _connect_reason(exc: BaseException) -> str:
    """Why a connection failed, from the OS error under httpx's (often vague) message."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the log server running?)"
        if isinstance(cause, socket.gaierror):
            return f"unknown host ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]

