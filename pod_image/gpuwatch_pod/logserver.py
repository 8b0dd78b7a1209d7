"""The pod log server, default port 8002: tail and follow of registered log files.

``GET /logs`` JSON list ``[{name, size, modified}]``; ``GET /logs/<name>?lines=N`` the last N
lines (default 200, at most 5000) as text; ``GET /logs/<name>/follow[?lines=N]`` server-sent events:
the last N lines (default 0), then one ``data:`` event per appended line (no gap or overlap between
the two), across rotation, truncation and re-creation; ``GET /health`` "ok". Only names registered at
construction are served: a request path never reaches the file system. With a token every request
needs ``Authorization: Bearer <token>`` or gets 401.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from gpuwatch_pod.httpserver import PodService, TrackedHTTPServer, send_unauthorized

DEFAULT_PORT = 8002
DEFAULT_LINES = 200
MAX_LINES = 5000
MAX_TAIL_BYTES = 8 * 1024 * 1024  # a tail never holds more than this, however long the lines
BLOCK = 64 * 1024
MAX_LINE = 64 * 1024  # a longer unterminated line is sent in pieces of this size
POLL_S = 0.25
HEARTBEAT_S = 5.0  # an SSE comment this often notices a client that went away
KEEP_ALIVE_S = 120.0


def tail_lines(path: Path, lines: int, max_bytes: int = MAX_TAIL_BYTES) -> bytes:
    """The last ``lines`` lines of ``path``, read backwards from the end in blocks (bounded memory)."""
    with path.open("rb") as fh:
        data = _read_back(fh, fh.seek(0, os.SEEK_END), lines, max_bytes)
    body = data[:-1] if data.endswith(b"\n") else data
    kept = body.split(b"\n")[-lines:] if lines > 0 else []
    return b"".join(line + b"\n" for line in kept) if kept and data else b""


def _read_back(fh: Any, end: int, lines: int, max_bytes: int) -> bytes:
    """The bytes before offset ``end`` that hold at least ``lines`` lines (or all of them), at most ``max_bytes``."""
    pos, chunks, newlines = end, [], 0
    while pos > 0 and newlines <= lines and end - pos < max_bytes:
        step = min(BLOCK, pos)
        pos -= step
        fh.seek(pos)
        chunk = fh.read(step)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    fh.seek(end)
    return b"".join(reversed(chunks))[-max_bytes:]


class _Follower:
    """Reads lines appended to one path, reopening it when it is rotated, truncated or re-created."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fh: Any = None
        self._ident: tuple[int, int] | None = None
        self._partial = b""
        self._open(at_end=True)

    def _open(self, at_end: bool) -> None:
        try:
            fh = self._path.open("rb")
        except OSError:
            return
        st = os.fstat(fh.fileno())
        self._fh, self._ident = fh, (st.st_dev, st.st_ino)
        if at_end:
            fh.seek(0, os.SEEK_END)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def backlog(self, lines: int) -> list[bytes]:
        """The last ``lines`` complete lines before where following starts, read from the same open file, so
        backlog and followed lines neither overlap nor leave a gap; a trailing partial line is followed on."""
        if self._fh is None or lines <= 0:
            return []
        data = _read_back(self._fh, self._fh.tell(), lines, MAX_TAIL_BYTES)
        *complete, self._partial = data.split(b"\n")
        return [line.removesuffix(b"\r") for line in complete[-lines:]]

    def poll(self) -> list[bytes]:
        """Complete lines appended since the last poll (at most a few blocks' worth at a time)."""
        out = self._drain()
        try:
            st = os.stat(self._path)
        except OSError:
            return out  # deleted: wait for it to come back
        if self._fh is None or (st.st_dev, st.st_ino) != self._ident:
            self.close()
            self._partial = b""
            self._open(at_end=False)  # a new file: everything in it is new
            return out + self._drain()
        if st.st_size < self._fh.tell():
            self._fh.seek(0)  # truncated in place
            self._partial = b""
            out += self._drain()
        return out

    def _drain(self) -> list[bytes]:
        if self._fh is None:
            return []
        out: list[bytes] = []
        for _ in range(16):
            chunk = self._fh.read(BLOCK)
            if not chunk:
                break
            *done, self._partial = (self._partial + chunk).split(b"\n")
            out.extend(done)
            while len(self._partial) > MAX_LINE:
                out.append(self._partial[:MAX_LINE])
                self._partial = self._partial[MAX_LINE:]
        return [line.removesuffix(b"\r") for line in out]


class _Server(TrackedHTTPServer):
    def __init__(self, address: tuple[str, int], owner: LogServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_S
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        if not owner.authorized(self.headers.get("Authorization")):
            send_unauthorized(self)
            return
        raw_path, _, query = self.path.partition("?")
        parts = raw_path.split("/")
        if raw_path == "/health":
            self._send(200, b"ok\n")
        elif raw_path == "/logs":
            self._send(200, json.dumps(owner.listing()).encode(), "application/json")
        elif len(parts) in (3, 4) and parts[1] == "logs" and unquote(parts[2]) in owner.logs:
            path = owner.logs[unquote(parts[2])]
            if len(parts) == 3:
                self._tail(path, query)
            elif parts[3] == "follow":
                self._follow(path, query)
            else:
                self._send(404, b"not found\n")
        else:
            self._send(404, b"not found: try /logs\n")

    def _lines_asked(self, query: str, default: int) -> int | None:
        """The ``lines`` query value, or None after answering 400 for a bad one."""
        values = parse_qs(query).get("lines", [str(default)])
        try:
            lines = int(values[-1])
        except ValueError:
            self._send(400, b"lines must be a whole number\n")
            return None
        if not 0 <= lines <= MAX_LINES:
            self._send(400, f"lines must be between 0 and {MAX_LINES}\n".encode())
            return None
        return lines

    def _tail(self, path: Path, query: str) -> None:
        lines = self._lines_asked(query, DEFAULT_LINES)
        if lines is None:
            return
        try:
            body = tail_lines(path, lines)
        except FileNotFoundError:
            self._send(404, b"log file does not exist yet\n")
            return
        self._send(200, body)

    def _follow(self, path: Path, query: str) -> None:
        lines = self._lines_asked(query, 0)
        if lines is None:
            return
        self.close_connection = True
        follower = _Follower(path)  # opened first: every line appended after the reply starts is sent
        try:
            backlog = follower.backlog(lines)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b": following\n\n" + b"".join(b"data: " + line + b"\n\n" for line in backlog))
            self.wfile.flush()
            self._stream(follower)
        finally:
            follower.close()

    def _stream(self, follower: _Follower) -> None:
        owner, sock = self.server.owner, self.connection
        last_sent = time.monotonic()
        while not owner.stopping:
            lines = follower.poll()
            if lines:
                self.wfile.write(b"".join(b"data: " + line + b"\n\n" for line in lines))
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > HEARTBEAT_S:
                self.wfile.write(b": keep-alive\n\n")
                last_sent = time.monotonic()
            self.wfile.flush()
            readable, _, _ = select.select([sock], [], [], POLL_S)
            if readable and not sock.recv(4096):
                return  # the client closed its end

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class LogServer(PodService):
    """Serves the named log files. ``start()`` runs it in a background thread; ``close()`` stops it."""

    thread_name = "log-server"

    def __init__(
        self,
        logs: Mapping[str, str | Path],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
    ) -> None:
        for name in logs:
            if not name or "/" in name:
                raise ValueError(f"bad log name {name!r}: it must be non-empty and contain no '/'")
        self.logs: dict[str, Path] = {name: Path(path) for name, path in logs.items()}
        super().__init__(_Server((host, port), self), token)

    @property
    def url(self) -> str:
        return self.base_url

    def listing(self) -> list[dict[str, Any]]:
        """``{name, size, modified}`` per log; a file that does not exist yet has size 0, modified null."""
        out: list[dict[str, Any]] = []
        for name, path in sorted(self.logs.items()):
            try:
                st = path.stat()
            except OSError:
                out.append({"name": name, "size": 0, "modified": None})
            else:
                out.append({"name": name, "size": st.st_size, "modified": st.st_mtime})
        return out
