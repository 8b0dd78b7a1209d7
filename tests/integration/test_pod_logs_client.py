"""The desktop's log client against the real pod log server on loopback: tail, follow, rotation, restarts, auth."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gpuwatch_desktop.sources.pod_logs import (
    FollowStatus,
    LogAuthError,
    LogNotFoundError,
    LogServerError,
    PodLogClient,
    lines_after,
)
from gpuwatch_pod.logserver import LogServer

TOKEN = "pod-token-123"
FAST = (0.05, 0.1, 0.2)  # reconnect backoff for tests
WAIT_S = 10.0


def append(path: Path, *lines: str) -> None:
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    vllm = tmp_path / "vllm.log"
    append(vllm, *(f"old {i}" for i in range(10)))
    return {"vllm": vllm, "slurmd": tmp_path / "slurmd.log"}


@pytest.fixture
def server(logs: dict[str, Path]) -> Iterator[LogServer]:
    srv = LogServer(logs, port=0, token=TOKEN).start()
    yield srv
    srv.close()


class Follow:
    """A follow in progress: its iterator and the statuses it reported."""

    def __init__(self, client: PodLogClient, name: str, backlog: int) -> None:
        self.statuses: list[FollowStatus] = []
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.lines: AsyncIterator[str] = client.follow(name, backlog, self._on_status)
        self._pending: asyncio.Future[str] | None = None

    def _on_status(self, status: FollowStatus) -> None:
        self.statuses.append(status)
        (self.connected if status.connected else self.disconnected).set()

    def start_next(self) -> None:
        """Start waiting for the next line (so the follow connects and runs while the test writes)."""
        self._pending = asyncio.ensure_future(anext(self.lines))

    async def take(self, count: int) -> list[str]:
        out: list[str] = []
        for _ in range(count):
            if self._pending is None:
                self.start_next()
            assert self._pending is not None
            out.append(await asyncio.wait_for(self._pending, WAIT_S))
            self._pending = None
        return out

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)
        await self.lines.aclose()  # type: ignore[attr-defined]


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_list_and_tail(server: LogServer, logs: dict[str, Path]) -> None:
    async def scenario() -> None:
        client = PodLogClient(server.url, TOKEN)
        try:
            listing = {info.name: info for info in await client.list()}
            assert set(listing) == {"vllm", "slurmd"}
            assert listing["vllm"].size == logs["vllm"].stat().st_size and listing["slurmd"].modified is None
            assert await client.tail("vllm", 3) == ["old 7", "old 8", "old 9"]
            assert await client.tail("vllm", 99_999) == [f"old {i}" for i in range(10)]  # capped, not refused
            with pytest.raises(LogNotFoundError) as missing:
                await client.tail("slurmd", 10)
            assert missing.value.missing_file and "does not exist yet" in str(missing.value)
            with pytest.raises(LogNotFoundError, match="has no log named 'nope'") as unknown:
                await client.tail("nope", 10)
            assert not unknown.value.missing_file
        finally:
            await client.aclose()

    run(scenario())


def test_requests_without_the_token_or_with_a_wrong_one_get_a_clear_401(server: LogServer) -> None:
    async def scenario() -> None:
        for token, message in ((None, "401: the node's log server needs an access token — set it in Settings → Nodes"),
                               ("wrong", "401: the node's access token is wrong — set it in Settings → Nodes")):
            client = PodLogClient(server.url, token)
            try:
                with pytest.raises(LogAuthError) as listed:
                    await client.list()
                assert str(listed.value) == message
                with pytest.raises(LogAuthError):
                    await client.tail("vllm", 5)
                with pytest.raises(LogAuthError):  # following gives up at once: retrying cannot help
                    await anext(client.follow("vllm", backlog=5))
            finally:
                await client.aclose()

    run(scenario())


def test_follow_gives_the_backlog_then_appended_lines(server: LogServer, logs: dict[str, Path]) -> None:
    async def scenario() -> None:
        client = PodLogClient(server.url, TOKEN, backoff_s=FAST)
        follow = Follow(client, "vllm", backlog=2)
        try:
            assert await follow.take(2) == ["old 8", "old 9"]
            follow.start_next()
            await asyncio.wait_for(follow.connected.wait(), WAIT_S)
            append(logs["vllm"], "new 1", "", "new 3 with ünïcode")
            assert await follow.take(3) == ["new 1", "", "new 3 with ünïcode"]
        finally:
            await follow.close()
            await client.aclose()

    run(scenario())


def test_follow_across_rotation_and_deletion(server: LogServer, logs: dict[str, Path]) -> None:
    path = logs["vllm"]

    async def scenario() -> None:
        client = PodLogClient(server.url, TOKEN, backoff_s=FAST)
        follow = Follow(client, "vllm", backlog=1)
        try:
            assert await follow.take(1) == ["old 9"]
            follow.start_next()
            await asyncio.wait_for(follow.connected.wait(), WAIT_S)
            append(path, "before rotation")
            assert await follow.take(1) == ["before rotation"]
            path.rename(path.with_suffix(".log.1"))  # logrotate's default: rename, then a new file
            append(path, "after rotation 1", "after rotation 2")
            assert await follow.take(2) == ["after rotation 1", "after rotation 2"]
            path.unlink()
            append(path, "re-created")
            assert await follow.take(1) == ["re-created"]
            assert [s.connected for s in follow.statuses] == [True], "one connection throughout"
        finally:
            await follow.close()
            await client.aclose()

    run(scenario())


def test_follow_reconnects_after_the_server_restarts_and_fills_in_what_was_written(
    logs: dict[str, Path],
) -> None:
    path = logs["vllm"]
    first = LogServer(logs, port=0, token=TOKEN).start()
    port = first.port
    servers = [first]

    async def scenario() -> None:
        client = PodLogClient(first.url, TOKEN, backoff_s=FAST)
        follow = Follow(client, "vllm", backlog=3)
        try:
            assert await follow.take(3) == ["old 7", "old 8", "old 9"]
            follow.start_next()
            await asyncio.wait_for(follow.connected.wait(), WAIT_S)
            follow.connected.clear()
            await asyncio.to_thread(first.close)
            await asyncio.wait_for(follow.disconnected.wait(), WAIT_S)
            append(path, "while down 1", "while down 2")
            servers.append(LogServer(logs, port=port, token=TOKEN).start())
            assert await follow.take(2) == ["while down 1", "while down 2"]
            await asyncio.wait_for(follow.connected.wait(), WAIT_S)
            append(path, "after restart")
            assert await follow.take(1) == ["after restart"]
            down = [s for s in follow.statuses if not s.connected]
            assert down and down[0].retry_in_s > 0 and down[0].message
            assert not any(s.gap for s in follow.statuses)
        finally:
            await follow.close()
            await client.aclose()

    try:
        run(scenario())
    finally:
        for srv in servers:
            srv.close()


def test_follow_of_a_log_that_does_not_exist_yet_waits_for_it(server: LogServer, logs: dict[str, Path]) -> None:
    async def scenario() -> None:
        client = PodLogClient(server.url, TOKEN, backoff_s=FAST)
        follow = Follow(client, "slurmd", backlog=50)
        try:
            follow.start_next()
            await asyncio.wait_for(follow.connected.wait(), WAIT_S)
            append(logs["slurmd"], "slurmd started")
            assert await follow.take(1) == ["slurmd started"]
        finally:
            await follow.close()
            await client.aclose()

    run(scenario())


def test_unknown_log_and_unreachable_server_give_clear_errors(server: LogServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def scenario() -> None:
        client = PodLogClient(server.url, TOKEN)
        refused = PodLogClient(dead, TOKEN, backoff_s=FAST)
        follow = Follow(refused, "vllm", backlog=5)
        try:
            with pytest.raises(LogNotFoundError, match="no log named 'nope'"):
                await anext(client.follow("nope"))
            with pytest.raises(LogServerError, match=f"cannot connect to {dead}: connection refused"):
                await refused.list()
            follow.start_next()  # keeps retrying, saying why
            await asyncio.wait_for(follow.disconnected.wait(), WAIT_S)
            assert follow.statuses[0].message.startswith(f"cannot connect to {dead}")
        finally:
            await follow.close()
            await client.aclose()
            await refused.aclose()

    run(scenario())


def test_lines_after_finds_where_to_resume() -> None:
    tail = ["a", "b", "c", "b", "c", "d", "e"]
    assert lines_after(tail, ["b", "c"]) == ["d", "e"]  # the last place the anchor ends
    assert lines_after(tail, ["x", "e"]) is None
    assert lines_after(tail, []) == tail
    assert lines_after(tail, ["zz"]) is None
    assert lines_after(["1", "2", "3", "4", "5", "6", "7"], ["dup", "3", "4", "5", "6", "7"]) == []
