"""``python -m gpuwatch_pod`` as a subprocess: the demo the desktop launches, and the exporter."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import IO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpuwatch_pod import families as f


def pod(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gpuwatch_pod", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def read_line(stream: IO[bytes] | None, timeout: float = 20.0) -> str:
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no line from the subprocess in time"
    return stream.readline().decode()


@pytest.fixture
def demo() -> Iterator[subprocess.Popen[bytes]]:
    proc = pod("demo", "--nodes", "3", "--gpus", "4", "--scenario", "idle", "--scenario", "overheat@node-3")
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def utilisation(url: str) -> list[float]:
    text = httpx.get(url, timeout=5).text
    fams = {fam.name: fam for fam in text_string_to_metric_families(text)}
    return [s.value for s in fams[f.GPU_UTIL].samples]


def test_demo_prints_its_nodes_serves_them_and_exits_on_stdin_eof(demo: subprocess.Popen[bytes]) -> None:
    nodes = json.loads(read_line(demo.stdout))["nodes"]
    assert [n["name"] for n in nodes] == ["node-1", "node-2", "node-3"]
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", n["url"]) for n in nodes)
    assert utilisation(nodes[0]["url"]) == [0, 0, 0, 0]  # "idle" without @ applies to every node
    assert len(utilisation(nodes[2]["url"])) == 4
    assert httpx.get(nodes[2]["url"].replace("/metrics", "/-/scenario"), timeout=5).text == "overheat\n"
    assert demo.stdin is not None
    demo.stdin.close()
    assert demo.wait(timeout=5) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(nodes[0]["url"], timeout=1)


def test_demo_exits_cleanly_on_sigterm(demo: subprocess.Popen[bytes]) -> None:
    read_line(demo.stdout)
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=5) == 0


def test_bad_scenario_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gpuwatch_pod", "demo", "--scenario", "melt@node-1"],
        capture_output=True, timeout=20, check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert b"unknown scenario 'melt'; known: healthy, overheat" in proc.stderr


def test_gpu_exporter_serves_until_sigterm() -> None:
    proc = pod("gpu-exporter", "--host", "127.0.0.1", "--port", "0", "--gpus", "2", "--scenario", "xid")
    try:
        match = re.search(r"serving (\S+)", read_line(proc.stderr))
        assert match is not None
        text = httpx.get(match.group(1), timeout=5).text
        fams = {fam.name: fam for fam in text_string_to_metric_families(text)}
        xids = [s.value for s in fams[f.XID_ERRORS].samples]
        assert xids == [0, 48]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
