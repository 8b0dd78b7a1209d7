"""The pod log server over real loopback HTTP."""

from __future__ import annotations

import queue
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gpuwatch_pod.logserver import LogServer, tail_lines

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    vllm = tmp_path / "vllm.log"
    vllm.write_text("".join(f"line {i}\n" for i in range(1000)))
    return {"vllm": vllm, "later": tmp_path / "later.log"}


@pytest.fixture
def server(logs: dict[str, Path]) -> Iterator[LogServer]:
    srv = LogServer(logs, port=0).start()
    yield srv
    srv.close()


def test_list_and_health(server: LogServer, logs: dict[str, Path]) -> None:
    listing = httpx.get(server.url + "/logs", timeout=5).json()
    assert [item["name"] for item in listing] == ["later", "vllm"]
    vllm = listing[1]
    assert vllm["size"] == logs["vllm"].stat().st_size and vllm["modified"] > 0
    assert listing[0] == {"name": "later", "size": 0, "modified": None}
    health = httpx.get(server.url + "/health", timeout=5)
    assert (health.status_code, health.text) == (200, "ok\n")


def test_tail_lines(server: LogServer) -> None:
    resp = httpx.get(server.url + "/logs/vllm", params={"lines": 3}, timeout=5)
    assert resp.status_code == 200 and resp.text == "line 997\nline 998\nline 999\n"
    default = httpx.get(server.url + "/logs/vllm", timeout=5).text.splitlines()
    assert len(default) == 200 and default[0] == "line 800"
    assert httpx.get(server.url + "/logs/vllm", params={"lines": 5001}, timeout=5).status_code == 400
    assert httpx.get(server.url + "/logs/vllm", params={"lines": "x"}, timeout=5).status_code == 400
    assert httpx.get(server.url + "/logs/later", timeout=5).status_code == 404


def test_tail_of_a_big_file_reads_only_the_end(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    line = b"x" * 99 + b"\n"
    with big.open("wb") as fh:
        for _ in range(50):
            fh.write(line * 10_000)  # 50 MB in all
        fh.write(b"the end\n")
    tracemalloc.start()
    try:
        body = tail_lines(big, 5000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lines = body.split(b"\n")
    assert len(lines) == 5001 and lines[-2] == b"the end" and lines[0] == b"x" * 99
    assert peak < 5 * 1024 * 1024


def test_unknown_names_and_traversal_are_404(server: LogServer) -> None:
    raw_paths = [
        "/logs/nope", "/logs/../../etc/passwd", "/logs/%2e%2e/%2e%2e/etc/passwd",
        "/logs/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/logs/vllm/../../etc/passwd", "/etc/passwd",
    ]
    for raw in raw_paths:
        assert raw_get(server.port, raw).startswith(b"HTTP/1.1 404"), raw


def raw_get(port: int, path: str, headers: str = "") -> bytes:
    """Send the path byte for byte (httpx would normalise the dots away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_token_required(logs: dict[str, Path]) -> None:
    with_token = LogServer(logs, port=0, token=TOKEN).start()
    try:
        for path in ("/health", "/logs", "/logs/vllm", "/logs/vllm/follow"):
            none = httpx.get(with_token.url + path, timeout=5)
            wrong = httpx.get(with_token.url + path, headers={"Authorization": "Bearer nope"}, timeout=5)
            assert (none.status_code, wrong.status_code) == (401, 401), path
            assert "line" not in none.text + wrong.text
        ok = httpx.get(with_token.url + "/logs/vllm", params={"lines": 1}, headers=AUTH, timeout=5)
        assert (ok.status_code, ok.text) == (200, "line 999\n")
    finally:
        with_token.close()


class SseReader:
    """Collects the ``data:`` lines of one follow stream on a thread, over a raw socket."""

    def __init__(self, port: int, name: str, query: str = "") -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.ended = threading.Event()
        self.head = b""
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._sock.sendall(f"GET /logs/{name}/follow{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)
        assert b"text/event-stream" in self.head

    def _run(self) -> None:
        buf = b""
        try:
            while chunk := self._sock.recv(65536):
                buf += chunk
                if not self._ready.is_set() and b"\r\n\r\n" in buf:
                    self.head, buf = buf.split(b"\r\n\r\n", 1)
                    self._ready.set()
                *events, buf = buf.split(b"\n\n")
                for event in events:
                    if event.startswith(b"data: "):
                        self.lines.put(event.removeprefix(b"data: ").decode())
        except OSError:
            pass
        finally:
            self.ended.set()

    def take(self, count: int) -> list[str]:
        return [self.lines.get(timeout=5) for _ in range(count)]

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._sock.close()


def append(path: Path, *lines: str) -> None:
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))


def test_follow_rotation_truncation_and_recreation(server: LogServer, logs: dict[str, Path]) -> None:
    path = logs["vllm"]
    reader = SseReader(server.port, "vllm")
    try:
        append(path, "new 1", "new 2")
        assert reader.take(2) == ["new 1", "new 2"]
        with path.open("a") as fh:
            fh.write("half")
            fh.flush()
            time.sleep(0.4)
            fh.write(" done\n")
        assert reader.take(1) == ["half done"]
        append(path, "before rotation")
        path.rename(path.with_suffix(".log.1"))
        append(path, "after rotation")
        assert reader.take(2) == ["before rotation", "after rotation"]
        time.sleep(0.4)
        path.write_text("")  # truncated in place
        time.sleep(0.4)
        append(path, "after truncation")
        assert reader.take(1) == ["after truncation"]
        path.unlink()
        time.sleep(0.4)
        append(path, "recreated")
        assert reader.take(1) == ["recreated"]
        assert reader.lines.empty()
    finally:
        reader.close()


def test_follow_a_file_that_does_not_exist_yet(server: LogServer, logs: dict[str, Path]) -> None:
    reader = SseReader(server.port, "later")
    try:
        append(logs["later"], "hello")
        assert reader.take(1) == ["hello"]
    finally:
        reader.close()


def test_close_with_a_follower_connected(logs: dict[str, Path]) -> None:
    srv = LogServer(logs, port=0).start()
    reader = SseReader(srv.port, "vllm")
    started = time.monotonic()
    srv.close()
    assert time.monotonic() - started < 3
    assert reader.ended.wait(5)
    reader.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/health", timeout=2)


def test_client_disconnect_ends_the_follower(server: LogServer) -> None:
    before = threading.active_count()
    reader = SseReader(server.port, "vllm")
    reader.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LogServer({"a/b": tmp_path / "x"}, port=0)


def test_follow_with_a_backlog_has_no_gap_or_overlap_while_the_file_grows(
        server: LogServer, logs: dict[str, Path]) -> None:
    stop = threading.Event()

    def write() -> None:
        k = 1000
        while not stop.is_set():
            with logs["vllm"].open("a") as fh:
                fh.write(f"line {k}\n")
                fh.write("line " + str(k + 1))  # a partial line, completed by the next write
                fh.flush()
                fh.write("\n")
            k += 2

    writer = threading.Thread(target=write)
    writer.start()
    try:
        readers = [SseReader(server.port, "vllm", "?lines=50") for _ in range(5)]
        got = [reader.take(400) for reader in readers]
    finally:
        stop.set()
        writer.join()
    for reader, lines in zip(readers, got, strict=True):
        reader.close()
        numbers = [int(line.removeprefix("line ")) for line in lines]
        assert numbers == list(range(numbers[0], numbers[0] + 400)), "a gap or a repeated line"
    assert raw_get(server.port, "/logs/vllm/follow?lines=99999").startswith(b"HTTP/1.1 400 Bad Request")
