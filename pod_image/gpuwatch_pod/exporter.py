"""The GPU metrics HTTP server (dcgm-exporter compatible), default port 9400.

``GET /metrics`` Prometheus text, ``GET /health`` "ok", and for a backend that supports
scenarios (the simulator) ``GET /-/scenario`` (current name) and ``POST /-/scenario`` (body =
name). Under ``node-down`` every request except the scenario switch is accepted and never
answered; under ``garbage`` /metrics answers 200 with a malformed payload.
"""

from __future__ import annotations

import select
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from gpuwatch_pod.backend import GpuBackend, SupportsScenarios
from gpuwatch_pod.httpserver import PodService, TrackedHTTPServer, send_unauthorized
from gpuwatch_pod.render import CONTENT_TYPE, MetricsRenderer, RenderOptions, garbage
from gpuwatch_pod.scenarios import HEALTHY, HttpMode, get_scenario

DEFAULT_PORT = 9400
MAX_HANG_S = 300.0  # a hung request gives up after this long even if the client waits
KEEP_ALIVE_S = 120.0  # an idle keep-alive connection is closed after this long
SCENARIO_PATH = "/-/scenario"


class _Server(TrackedHTTPServer):
    def __init__(self, address: tuple[str, int], exporter: GpuExporter) -> None:
        self.exporter = exporter
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_S
    server: _Server

    def do_GET(self) -> None:
        exporter = self.server.exporter
        path = self.path.split("?", 1)[0]
        if not exporter.authorized(self.headers.get("Authorization")):
            send_unauthorized(self)
        elif path == SCENARIO_PATH:
            self._scenario_get()
        elif exporter.http_mode is HttpMode.HANG:
            self._hang()
        elif path == "/metrics":
            self._send(200, exporter.metrics_body(), CONTENT_TYPE)
        elif path == "/health":
            self._send(200, b"ok\n")
        else:
            self._send(404, b"not found: try /metrics or /health\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace").strip() if length else ""
        if not self.server.exporter.authorized(self.headers.get("Authorization")):
            send_unauthorized(self)
        elif self.path != SCENARIO_PATH:
            self._send(404, b"not found\n")
        elif not self.server.exporter.scenarios_enabled:
            self._send(404, b"scenarios are only available with the sim backend\n")
        else:
            try:
                self.server.exporter.set_scenario(body)
            except ValueError as exc:
                self._send(400, f"{exc}\n".encode())
            else:
                self._send(200, f"scenario {body}\n".encode())

    def _scenario_get(self) -> None:
        if self.server.exporter.scenarios_enabled:
            self._send(200, f"{self.server.exporter.scenario}\n".encode())
        else:
            self._send(404, b"scenarios are only available with the sim backend\n")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang(self) -> None:
        """Never reply: wait until the client gives up, the scenario changes or the server stops."""
        self.close_connection = True
        exporter = self.server.exporter
        deadline = time.monotonic() + MAX_HANG_S
        sock = self.connection
        while exporter.http_mode is HttpMode.HANG and not exporter.stopping and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable:
                try:
                    if not sock.recv(65536):
                        return  # the client closed its end
                except OSError:
                    return

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a scrape every few seconds would flood the log."""


class GpuExporter(PodService):
    """Serves one backend over HTTP. ``start()`` runs it in a background thread; ``close()`` stops it.

    With a ``token`` every request needs ``Authorization: Bearer <token>`` or gets 401.
    """

    thread_name = "gpu-exporter"

    def __init__(
        self,
        backend: GpuBackend,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        options: RenderOptions | None = None,
        token: str | None = None,
    ) -> None:
        self._backend = backend
        self._renderer = MetricsRenderer(backend.devices(), backend.hostname, backend.driver_version, options)
        self._read_lock = threading.Lock()
        self._scenario = get_scenario(backend.scenario if isinstance(backend, SupportsScenarios) else HEALTHY)
        super().__init__(_Server((host, port), self), token)

    @property
    def url(self) -> str:
        """The /metrics URL."""
        return f"{self.base_url}/metrics"

    @property
    def scenarios_enabled(self) -> bool:
        return isinstance(self._backend, SupportsScenarios)

    @property
    def scenario(self) -> str:
        return self._scenario.name

    @property
    def http_mode(self) -> HttpMode:
        return self._scenario.http

    def set_scenario(self, name: str) -> None:
        """Switch the node's scenario; ValueError for an unknown name or a backend without scenarios."""
        scenario = get_scenario(name)
        if not isinstance(self._backend, SupportsScenarios):
            raise ValueError("scenarios are only available with the sim backend")
        self._backend.set_scenario(name)
        self._scenario = scenario

    def metrics_body(self) -> bytes:
        with self._read_lock:
            body = self._renderer.render(self._backend.read())
        return garbage(body) if self._scenario.http is HttpMode.GARBAGE else body
