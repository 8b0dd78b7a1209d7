"""Loopback servers for integration tests: the simulated pod exporters and a plain HTTP stub."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpuwatch_pod.demo_cluster import DemoCluster, start_demo_cluster


@pytest.fixture
def demo_cluster() -> Iterator[DemoCluster]:
    with start_demo_cluster(nodes=3, gpus_per_node=4, seed=7) as cluster:
        yield cluster


class _StatusHandler(BaseHTTPRequestHandler):
    status = 503
    body = b"service unavailable\n"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_503_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"
