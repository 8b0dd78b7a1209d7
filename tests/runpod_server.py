"""A RunPod GraphQL test server on 127.0.0.1: the account's pods, ``podStop`` and ``podResume``.

It answers like ``https://api.runpod.io/graphql``: the key in ``Authorization: Bearer`` (or ``?api_key=``),
401 for a wrong one; a GraphQL answer holds only the fields the query selected (an unknown field is a 400
"Cannot query field" error, as a real GraphQL server says); ``podStop`` makes a pod EXITED without a runtime,
``podResume`` makes it RUNNING with a fresh runtime; an unknown pod is a GraphQL error.

    with RunPodServer("rp-key", [pod("abc123", "trainer")]) as server:
        client = RunPodClient("rp-key", url=server.url)
        server.fail_next(status=429, headers={"Retry-After": "7"})  # the next request only
        server.fail_next(body=b"<html>bad gateway</html>", status=200)  # garbled
        server.error_next("There are not enough free GPUs on the host machine to start this pod.")
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

Selection = dict[str, "Selection | None"]

POD_FIELDS: Selection = {  # the part of RunPod's Pod type this server knows
    "id": None, "name": None, "desiredStatus": None, "costPerHr": None, "gpuCount": None, "imageName": None,
    "podType": None, "volumeInGb": None, "containerDiskInGb": None, "lastStatusChange": None,
    "machine": {"gpuDisplayName": None, "podHostId": None},
    "runtime": {"uptimeInSeconds": None,
                "ports": {"ip": None, "isIpPublic": None, "privatePort": None, "publicPort": None, "type": None},
                "gpus": {"id": None, "gpuUtilPercent": None, "memoryUtilPercent": None}},
}


def pod(pod_id: str, name: str, *, gpu: str = "NVIDIA A100 80GB PCIe", count: int = 1, cost: float = 1.64,
        running: bool = True, uptime: int = 3600, util: tuple[float, ...] = (), mem: tuple[float, ...] = (),
        ports: tuple[int, ...] = (9400, 8002)) -> dict[str, Any]:
    """A pod in RunPod's JSON shape (a running one has a runtime with one entry per GPU)."""
    utils = util or (50.0,) * count
    mems = mem or (40.0,) * count
    runtime = {
        "uptimeInSeconds": uptime,
        "ports": [{"ip": "100.65.0.2", "isIpPublic": False, "privatePort": p, "publicPort": p, "type": "http"}
                  for p in ports] + [{"ip": "203.0.113.9", "isIpPublic": True, "privatePort": 22,
                                      "publicPort": 40022, "type": "tcp"}],
        "gpus": [{"id": f"GPU-{pod_id}-{i}", "gpuUtilPercent": u, "memoryUtilPercent": m}
                 for i, (u, m) in enumerate(zip(utils, mems, strict=False))],
    }
    return {"id": pod_id, "name": name, "desiredStatus": "RUNNING" if running else "EXITED", "costPerHr": cost,
            "gpuCount": count, "imageName": "ghcr.io/gpuwatch/gpuwatch-pod:0.1.0", "podType": "RESERVED",
            "volumeInGb": 50, "containerDiskInGb": 20, "lastStatusChange": "Rented by User: Mon Jan 05 2026",
            "machine": {"gpuDisplayName": gpu, "podHostId": f"{pod_id}-6441"},
            "runtime": runtime if running else None}


@dataclass(frozen=True)
class Failure:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _Shared:
    api_key: str
    pods: list[dict[str, Any]]
    failures: list[Failure] = field(default_factory=list)
    recorded: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class GraphQLError(Exception):
    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status


def parse_selection(query: str) -> tuple[str, Selection]:
    """The operation type and its selection set as nested dicts (arguments skipped): enough for these queries."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_$][A-Za-z0-9_]*|[{}()]|[^\s,]', query)
    operation = tokens[0] if tokens and tokens[0] in ("query", "mutation") else "query"
    start = tokens.index("{") if "{" in tokens else len(tokens)
    selection, _ = _selection(tokens, start + 1)
    return operation, selection


def _selection(tokens: list[str], i: int) -> tuple[Selection, int]:
    result: Selection = {}
    last = ""
    while i < len(tokens):
        token = tokens[i]
        if token == "}":
            return result, i + 1
        if token == "(":
            depth = 1
            while depth and (i := i + 1) < len(tokens):
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        elif token == "{":
            result[last], i = _selection(tokens, i + 1)
            continue
        elif re.fullmatch(r"[A-Za-z_]\w*", token):
            last = token
            result[last] = None
        i += 1
    raise GraphQLError("Syntax Error: Expected Name, found <EOF>.", 400)


def prune(value: Any, selection: Selection | None) -> Any:
    """Only the selected fields of ``value``, as a GraphQL server answers."""
    if selection is None or value is None:
        return value
    if isinstance(value, list):
        return [prune(v, selection) for v in value]
    return {name: prune(value.get(name), sub) for name, sub in selection.items()}


def check_fields(selection: Selection, known: Selection, type_name: str) -> None:
    for name, sub in selection.items():
        if name not in known:
            raise GraphQLError(f'Cannot query field "{name}" on type "{type_name}".', 400)
        if sub is not None and known[name] is not None:
            check_fields(sub, known[name] or {}, name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        shared = self.server.shared
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with shared.lock:
            shared.recorded.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            failure = shared.failures.pop(0) if shared.failures else None
        if failure is not None:
            return self._send(failure.status, failure.body, failure.headers)
        if urlsplit(self.path).path.rstrip("/") != "/graphql":
            return self._send(404, b"Not Found", {"Content-Type": "text/plain"})
        if not self._authorized():
            return self._json(401, {"errors": [{"message": "Unauthorized"}]})
        try:
            self._json(200, {"data": self._execute(body)})
        except GraphQLError as exc:
            self._json(exc.status, {"errors": [{"message": str(exc)}], "data": None})

    def _authorized(self) -> bool:
        key = self.server.shared.api_key
        header = self.headers.get("Authorization", "")
        in_url = parse_qs(urlsplit(self.path).query).get("api_key", [""])[0]
        return header == f"Bearer {key}" or in_url == key

    def _execute(self, body: dict[str, Any]) -> dict[str, Any]:
        query, variables = str(body.get("query", "")), body.get("variables") or {}
        operation, selection = parse_selection(query)
        data: dict[str, Any] = {}
        for root, sub in selection.items():
            if operation == "query" and root == "myself":
                pods_sel = (sub or {}).get("pods")
                check_fields(pods_sel or {}, POD_FIELDS, "Pod")
                with self.server.shared.lock:
                    data[root] = {"pods": prune(json.loads(json.dumps(self.server.shared.pods)), pods_sel)}
            elif operation == "mutation" and root in ("podStop", "podResume"):
                check_fields(sub or {}, POD_FIELDS, "Pod")
                changed = self._change(root, _argument(query, variables, "podId"), variables)
                data[root] = prune(changed, sub)
            else:
                raise GraphQLError(f'Cannot query field "{root}" on type "{operation.title()}".', 400)
        return data

    def _change(self, operation: str, pod_id: str, variables: dict[str, Any]) -> dict[str, Any]:
        shared = self.server.shared
        with shared.lock:
            found = next((p for p in shared.pods if p["id"] == pod_id), None)
            if found is None:
                raise GraphQLError(f"Pod not found: {pod_id}")
            if operation == "podStop":
                found.update(desiredStatus="EXITED", runtime=None)
            else:
                count = int(_argument("", variables, "gpuCount") or found["gpuCount"])
                fresh = pod(pod_id, found["name"], count=count, uptime=0, util=(0.0,) * count, mem=(0.0,) * count)
                found.update(desiredStatus="RUNNING", gpuCount=count, runtime=fresh["runtime"])
            return json.loads(json.dumps(found))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _argument(query: str, variables: dict[str, Any], name: str) -> str:
    if name in variables:
        return str(variables[name])
    found = re.search(rf'{name}\s*:\s*"?([^",)\s}}]+)', query)
    return found.group(1) if found else ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    shared: _Shared


class RunPodServer:
    """The test server in a background thread; a context manager."""

    def __init__(self, api_key: str = "rp-test-key", pods: list[dict[str, Any]] | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.shared = _Shared(api_key, list(pods or []))
        self._thread = threading.Thread(target=self._server.serve_forever, name="runpod-test-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql"

    @property
    def recorded(self) -> list[Recorded]:
        with self._server.shared.lock:
            return list(self._server.shared.recorded)

    def pod(self, pod_id: str) -> dict[str, Any]:
        with self._server.shared.lock:
            return json.loads(json.dumps(next(p for p in self._server.shared.pods if p["id"] == pod_id)))

    def set_pods(self, pods: list[dict[str, Any]]) -> None:
        with self._server.shared.lock:
            self._server.shared.pods = list(pods)

    def fail_next(self, status: int = 500, body: bytes = b"internal error",
                  headers: dict[str, str] | None = None) -> None:
        """The next request gets this raw answer instead of a GraphQL one."""
        with self._server.shared.lock:
            self._server.shared.failures.append(Failure(status, body, headers or {"Content-Type": "text/plain"}))

    def error_next(self, message: str) -> None:
        """The next request gets a GraphQL error (HTTP 200, ``errors``, no data), as RunPod refuses a mutation."""
        body = json.dumps({"errors": [{"message": message, "path": ["podResume"]}], "data": None}).encode()
        self.fail_next(200, body, {"Content-Type": "application/json"})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RunPodServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
