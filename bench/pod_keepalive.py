"""Latency of a scrape on a kept-alive connection to the pod GPU exporter (8 simulated GPUs).

The poller keeps its connections alive, so this is what each scrape waits for. Baseline: the same
server with Nagle's algorithm left on (TCP_NODELAY cleared), where the body written after the headers
waits for the client's delayed ACK. The last line is ``kept-alive scrape ms: N (with Nagle: N, Nx)``.
"""

from __future__ import annotations

import socket
import statistics
import time
from typing import Any

import httpx

from gpuwatch_pod.exporter import GpuExporter
from gpuwatch_pod.httpserver import TrackedHTTPServer
from gpuwatch_pod.sim import SimBackend

SCRAPES = 50


def median_scrape_ms(exporter: GpuExporter) -> float:
    times = []
    with httpx.Client() as client:
        client.get(exporter.url).raise_for_status()
        for _ in range(SCRAPES):
            started = time.perf_counter()
            client.get(exporter.url).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(nagle: bool) -> float:
    original = TrackedHTTPServer.process_request

    def with_nagle(self: TrackedHTTPServer, request: Any, client_address: Any) -> None:
        """The server's own process_request with its TCP_NODELAY call turned into a no-op."""
        original_nodelay = socket.socket.setsockopt

        def keep_nagle(sock: socket.socket, level: int, option: int, value: Any) -> None:
            if (level, option) != (socket.IPPROTO_TCP, socket.TCP_NODELAY):
                original_nodelay(sock, level, option, value)

        socket.socket.setsockopt = keep_nagle  # type: ignore[assignment, method-assign]
        try:
            original(self, request, client_address)
        finally:
            socket.socket.setsockopt = original_nodelay  # type: ignore[method-assign]

    backend = SimBackend(8, seed=0, hostname="bench")
    if nagle:
        TrackedHTTPServer.process_request = with_nagle  # type: ignore[method-assign]
    try:
        exporter = GpuExporter(backend, "127.0.0.1", 0).start()
        try:
            return median_scrape_ms(exporter)
        finally:
            exporter.close()
    finally:
        TrackedHTTPServer.process_request = original  # type: ignore[method-assign]
        backend.close()


def main() -> None:
    ours, baseline = measure(nagle=False), measure(nagle=True)
    print(f"kept-alive scrape ms: {ours:.1f} (with Nagle: {baseline:.1f}, {baseline / ours:.0f}x)")


if __name__ == "__main__":
    main()
