"""Scrape one dcgm-exporter-compatible /metrics endpoint over HTTP (httpx, async).

One failure policy for the whole adapter: every way a scrape can fail ends as a ``ScrapeError``
with a short reason the UI shows as is (refused, timed out, HTTP status, bad payload, too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar

import httpx

from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.core.errors import ParseError, ScrapeError
from gpuwatch_desktop.core.snapshot import NodeSnapshot
from gpuwatch_desktop.sources.dcgm import DcgmReader
from gpuwatch_desktop.sources.http_transport import StreamTransport

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
_ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"


class DcgmSource:
    """One node's exporter. Keeps its own HTTP client (one per node measured fastest) and payload reader."""

    def __init__(self, node: str, url: str, timeout_s: float, token: str | None = None) -> None:
        self.node = node
        self.url = url
        self.timeout_s = timeout_s
        headers = {"Accept": _ACCEPT, "User-Agent": "gpuwatch-desktop"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Plain http:// goes over our lean keep-alive transport (exporters set no cookies: none kept);
        # https:// (the RunPod proxy) keeps httpx's own transport and cookie handling.
        plain = url[:7].lower() == "http://"
        self._transport = StreamTransport() if plain else None
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), headers=headers, limits=httpx.Limits(max_connections=1),
            transport=self._transport, cookies=_NoCookies() if plain else None,
            verify=shared_ssl_context(),  # https:// and any proxy from the environment; loaded once for the app
        )
        self._request: httpx.Request | None = None  # plain http: the client's request, built at the first scrape
        try:
            self._target: httpx.URL | str = httpx.URL(url)  # parsed once rather than on every scrape
        except httpx.InvalidURL:
            self._target = url  # fails at the first scrape, as it always did
        self._reader = DcgmReader()

    async def poll(self) -> NodeSnapshot:
        """Scrape and parse once; raises ScrapeError with the reason on any failure."""
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._fetch()
        except TimeoutError:
            raise ScrapeError(f"timed out after {self.timeout_s:g} s") from None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = body.count(b"\n", 0, exc.start) + 1
            raise ScrapeError(f"bad payload: line {line}: not UTF-8 text (byte {exc.start})") from None
        try:
            return self._reader.read(self.node, text, time.time())
        except ParseError as exc:
            raise ScrapeError(f"bad payload: {exc}") from None

    async def _fetch(self) -> bytes:
        try:
            async with self._response() as response:
                if response.status_code != 200:
                    raise ScrapeError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_PAYLOAD_BYTES:
                        raise ScrapeError(f"payload larger than {MAX_PAYLOAD_BYTES // 2**20} MiB")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise ScrapeError(f"timed out after {self.timeout_s:g} s") from None
        except httpx.ConnectError as exc:
            raise ScrapeError(f"cannot connect: {_short(exc)}") from None
        except httpx.HTTPError as exc:
            raise ScrapeError(f"HTTP error: {_short(exc)}") from None

    @contextlib.asynccontextmanager
    async def _response(self) -> AsyncIterator[httpx.Response]:
        """The streamed response to a GET of the URL, closed on exit.

        Plain http:// sends the request the client builds (its headers, timeouts) straight to our
        transport, skipping the client's per-request machinery: no auth, redirects (never followed
        here), cookies (none kept) or hooks to run; measured ~1/3 of a scrape's CPU.
        """
        if self._transport is None:
            async with self._client.stream("GET", self._target) as response:
                yield response
            return
        if self._client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if self._request is None:
            self._request = self._client.build_request("GET", self._target)
        response = await self._transport.handle_async_request(self._request)
        response.request = self._request
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


class _NoCookies(CookieJar):
    """Keeps no cookies: skips httpx's per-response cookie parsing."""

    def extract_cookies(self, response: object, request: object) -> None:
        pass


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]
