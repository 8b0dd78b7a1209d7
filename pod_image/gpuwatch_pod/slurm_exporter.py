"""The pod's Slurm exporter, default port 9341.

``GET /metrics`` Prometheus text (vpenso/prometheus-slurm-exporter names), ``GET /jobs`` the queue as
JSON (``?state=PENDING,RUNNING`` and ``?user=u`` filter it), ``GET /nodes`` nodes and partitions as
JSON, ``GET /health`` "ok". Every answer comes from one :class:`SharedCollection`, so however often
it is scraped Slurm is asked at most once per ``min_interval_s``. With a token every request needs
``Authorization: Bearer <token>`` or gets 401.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from gpuwatch_pod.httpserver import PodService, TrackedHTTPServer, send_unauthorized
from gpuwatch_pod.slurm_collect import DEFAULT_MIN_INTERVAL_S, SharedCollection
from gpuwatch_pod.slurm_model import SlurmSnapshot, SlurmSource
from gpuwatch_pod.slurm_render import CONTENT_TYPE, JSON_TYPE, jobs_payload, nodes_payload, render_metrics

DEFAULT_PORT = 9341
KEEP_ALIVE_S = 120.0


class _Server(TrackedHTTPServer):
    def __init__(self, address: tuple[str, int], owner: SlurmExporter) -> None:
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
        path, _, query = self.path.partition("?")
        if path == "/health":
            self._send(200, b"ok\n")
        elif path == "/metrics":
            self._send(200, render_metrics(owner.snapshot()), CONTENT_TYPE)
        elif path == "/jobs":
            self._jobs(owner.snapshot(), parse_qs(query))
        elif path == "/nodes":
            self._json(nodes_payload(owner.snapshot()))
        else:
            self._send(404, b"not found: try /metrics, /jobs, /nodes or /health\n")

    def _jobs(self, snapshot: SlurmSnapshot, query: dict[str, list[str]]) -> None:
        states = None
        if "state" in query:
            states = frozenset(s.strip().upper() for v in query["state"] for s in v.split(",") if s.strip())
        user = query["user"][-1] if "user" in query else None
        self._json(jobs_payload(snapshot, states, user))

    def _json(self, payload: dict[str, Any]) -> None:
        self._send(200, json.dumps(payload).encode(), JSON_TYPE)

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a scrape every few seconds would flood the log."""


class SlurmExporter(PodService):
    """Serves one :class:`SlurmSource` (the real commands or a simulation) over HTTP.

    ``start()`` runs it in a background thread; ``close()`` stops it.
    """

    thread_name = "slurm-exporter"

    def __init__(
        self,
        source: SlurmSource,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    ) -> None:
        self.collection = SharedCollection(source, min_interval_s)
        super().__init__(_Server((host, port), self), token)

    @property
    def url(self) -> str:
        """The base URL (``http://host:port``)."""
        return self.base_url

    def snapshot(self) -> SlurmSnapshot:
        return self.collection.get()
