"""The pod's HTTP server base: threads joined on close, open connections woken to end, bearer-token checks."""

from __future__ import annotations

import contextlib
import hmac
import os
import selectors
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class TrackedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its open connections, so closing never waits on an idle client."""

    daemon_threads = False  # server_close() joins every request thread
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Headers and body go out in separate writes; with Nagle on, the body waits for the client's delayed
        # ACK (~40 ms per request on a kept-alive connection).
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply is normal for a pod service; anything else is printed."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake every request thread blocked on its connection (keep-alive, hung or following) so it ends."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


TOKEN_ENV = "GPUWATCH_POD_TOKEN"


def token_from_env() -> str | None:
    """The pod access token from ``GPUWATCH_POD_TOKEN`` (None when unset or empty: no auth)."""
    return os.environ.get(TOKEN_ENV) or None


def bearer_matches(header: str | None, token: bytes | None) -> bool:
    """True when no token is required or ``header`` is exactly ``Bearer <token>`` (constant-time)."""
    if token is None:
        return True
    return hmac.compare_digest((header or "").encode("utf-8", "replace"), b"Bearer " + token)


def send_unauthorized(handler: BaseHTTPRequestHandler) -> None:
    """401 with a ``WWW-Authenticate: Bearer`` header and nothing else."""
    body = b"unauthorized\n"
    handler.send_response(401)
    handler.send_header("WWW-Authenticate", "Bearer")
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class PodService:
    """A TrackedHTTPServer served from a background thread: ``start()``, ``close()``, ``port``, token check.

    Subclasses pass their server (whose handler finds the service as ``server.owner``) to ``__init__``.
    ``close()`` wakes the serving thread at once, ends every request thread and frees the port.
    """

    thread_name = "pod-service"

    def __init__(self, server: TrackedHTTPServer, token: str | None = None) -> None:
        self._server = server
        self._token = token.encode() if token else None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def authorized(self, header: str | None) -> bool:
        return bearer_matches(header, self._token)

    def start(self) -> Self:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._serve, name=f"{self.thread_name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        """Like serve_forever, but woken at once by close() instead of polling twice a second."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if selector.select() and not self._stopping.is_set():
                    self._server.handle_request()

    def close(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()
