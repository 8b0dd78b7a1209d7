"""An OpenAI-protocol test server on 127.0.0.1, driven by a script of replies, recording every request.

It speaks the real protocol to the real ``openai`` client: ``POST /v1/chat/completions`` as JSON or as
server-sent events (``data: {chunk}`` lines, ``choices[0].delta`` content and ``tool_calls`` split across
chunks by index, ``finish_reason``, ``data: [DONE]``) and ``GET /v1/models``.

    with OpenAIServer([tool_calls(("cluster_status", {})), text("All fine.")]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k")
        ...
        server.requests[1]["messages"][-1]  # the tool result the model was sent

Each chat request takes the next reply of the script; when the script is used up the server answers 500
"test script exhausted" (so a test that expects fewer requests fails plainly).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str = ""
    calls: tuple[tuple[str, str], ...] = ()  # (name, raw JSON arguments)
    status: int = 200
    error: dict[str, Any] | None = None  # the OpenAI error body's "error" object
    delay_s: float = 0.0  # before the response head (longer than the client's timeout: a timeout)
    stall_after: int | None = None  # stop after this many chunks (a hang mid-stream) ...
    stall_s: float = 0.0  # ... for this long, watching for the client to go away
    pieces: int = 3  # content and each call's arguments are split into this many chunks
    drop_after: int | None = None  # close the connection after this many chunks (a broken stream)


def text(content: str, *, pieces: int = 3, delay_s: float = 0.0, stall_after: int | None = None,
         stall_s: float = 0.0) -> Reply:
    return Reply(content=content, pieces=pieces, delay_s=delay_s, stall_after=stall_after, stall_s=stall_s)


def broken(content: str, after: int = 2) -> Reply:
    """A stream that stops after ``after`` chunks: the connection closes without the end of the body."""
    return Reply(content=content, pieces=4, drop_after=after)


def tool_calls(*calls: tuple[str, dict[str, Any] | str], content: str = "", delay_s: float = 0.0) -> Reply:
    """Tool calls (several: parallel calls); arguments given as a dict, or as raw text (to send invalid JSON)."""
    raw = tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls)
    return Reply(content=content, calls=raw, delay_s=delay_s)


def error(status: int, message: str, code: str | None = None, kind: str = "server_error") -> Reply:
    return Reply(status=status, error={"message": message, "type": kind, "param": None, "code": code})


def empty() -> Reply:
    return Reply()


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]
    handling_ms: float = 0.0  # from the request's arrival to the last byte of the response
    disconnected: bool = False  # the client went away while the reply stalled


@dataclass
class _Shared:
    script: list[Reply]
    models: list[str]
    recorded: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small SSE chunks go out at once

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.server.shared.models]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        started = time.perf_counter()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        record = Recorded(body, {k.lower(): v for k, v in self.headers.items()})
        shared = self.server.shared
        with shared.lock:
            shared.recorded.append(record)
            reply = shared.script.pop(0) if shared.script else error(500, "test script exhausted")
        if self.path.rstrip("/") != "/v1/chat/completions":
            reply = error(404, f"no route {self.path}", kind="not_found")
        if reply.delay_s and self._wait(reply.delay_s):
            record.disconnected = True
            return
        if reply.error is not None:
            self._json(reply.status, {"error": reply.error})
        elif body.get("stream"):
            record.disconnected = self._stream(reply, body.get("model", ""))
        else:
            self._json(200, _completion(reply, body.get("model", "")))
        record.handling_ms = (time.perf_counter() - started) * 1000

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply, model: str) -> bool:
        """Send the reply as SSE chunks; True when the client went away during a stall."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for sent, chunk in enumerate(_chunks(reply, model)):
            if reply.stall_after is not None and sent == reply.stall_after and self._wait(reply.stall_s):
                return True
            if sent == reply.drop_after:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return False
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")
        return False

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (early) when the client closes its connection."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.server.shared.closing.is_set():
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
        return False


def _pieces(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, n)))
    return [text[i:i + size] for i in range(0, len(text), size)]


def _chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in _pieces(reply.content, reply.pieces)]
    for index, (name, arguments) in enumerate(reply.calls):
        deltas.append({"tool_calls": [{"index": index, "id": f"call_{index}_{name}", "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                   for piece in _pieces(arguments, reply.pieces)]
    finish = "tool_calls" if reply.calls else "stop"
    chunks = [_chunk_body(model, delta, None) for delta in deltas]
    return [*chunks, _chunk_body(model, {}, finish)]


def _chunk_body(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.calls:
        message["tool_calls"] = [{"id": f"call_{i}_{name}", "type": "function",
                                  "function": {"name": name, "arguments": args}}
                                 for i, (name, args) in enumerate(reply.calls)]
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.calls else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    shared: _Shared


class OpenAIServer:
    """The test server in a background thread; a context manager."""

    def __init__(self, script: list[Reply] | None = None, models: list[str] | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.shared = _Shared(list(script or []), models or ["test-model"])
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat request body so far, in order."""
        return [r.body for r in self.recorded]

    @property
    def recorded(self) -> list[Recorded]:
        with self._server.shared.lock:
            return list(self._server.shared.recorded)

    def add(self, *replies: Reply) -> None:
        with self._server.shared.lock:
            self._server.shared.script.extend(replies)

    @property
    def left(self) -> int:
        """Replies of the script not used yet."""
        with self._server.shared.lock:
            return len(self._server.shared.script)

    def close(self) -> None:
        self._server.shared.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
