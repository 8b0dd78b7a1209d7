"""The pod's Slurm exporter over HTTP (httpx, async): ``/nodes`` and ``/jobs`` as typed data.

One failure policy: every way a request can fail (refused, timed out, 401, other HTTP status, garbled or
wrongly shaped JSON, too big) ends as a ``SlurmSourceError`` whose message says what failed and what to do.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.core.errors import ScrapeError
from gpuwatch_desktop.core.slurm import SlurmJob, SlurmNodeInfo, SlurmPartition, SlurmStatus, summarize

MAX_PAYLOAD_BYTES = 32 * 1024 * 1024


class SlurmSourceError(ScrapeError):
    """The Slurm exporter could not be read; the message is shown to the user as is.

    ``unauthorized``: it answered 401 (the access token is missing or wrong).
    """

    def __init__(self, reason: str, unauthorized: bool = False) -> None:
        super().__init__(reason)
        self.unauthorized = unauthorized


class PayloadError(ValueError):
    """A reply has the wrong shape; the message names the field."""


@dataclass(frozen=True, slots=True)
class NodesReport:
    """``GET /nodes``: sinfo's nodes and partitions, when they were collected and the exporter's error."""

    collected_at: float | None
    error: str | None
    nodes: tuple[SlurmNodeInfo, ...]
    partitions: tuple[SlurmPartition, ...]


@dataclass(frozen=True, slots=True)
class JobsReport:
    """``GET /jobs``: squeue's jobs, when they were collected and the exporter's error."""

    collected_at: float | None
    error: str | None
    jobs: tuple[SlurmJob, ...]


def base_url_of(url: str) -> str:
    """The exporter's base URL: no trailing slash, and a pasted ``.../metrics`` taken back to its base."""
    url = url.strip().rstrip("/")
    return url[: -len("/metrics")] if url.endswith("/metrics") else url


class SlurmClient:
    """One Slurm exporter. ``node`` (the head node's name) is only used in messages about its token."""

    def __init__(self, base_url: str, token: str | None = None, *, node: str = "", timeout_s: float = 5.0) -> None:
        self.base_url = base_url_of(base_url)
        self.node = node
        self.timeout_s = timeout_s
        self._has_token = bool(token)
        headers = {"Accept": "application/json", "User-Agent": "gpuwatch-desktop"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers=headers,
                                         limits=httpx.Limits(max_connections=4), verify=shared_ssl_context())

    async def nodes(self) -> NodesReport:
        return parse_nodes(await self._get_json("/nodes"))

    async def jobs(self, states: Sequence[str] = (), user: str | None = None) -> JobsReport:
        params = {k: v for k, v in (("state", ",".join(states)), ("user", user or "")) if v}
        return parse_jobs(await self._get_json("/jobs", params))

    async def status(self) -> SlurmStatus:
        """Nodes, partitions and the job queue, asked for together; the exporter's own error kept in ``error``."""
        nodes, jobs = await asyncio.gather(self.nodes(), self.jobs(), return_exceptions=True)
        for answer in (nodes, jobs):  # both end (each has its timeout); the nodes' failure is told first
            if isinstance(answer, BaseException):
                raise answer
        assert not isinstance(nodes, BaseException) and not isinstance(jobs, BaseException)
        times = [t for t in (nodes.collected_at, jobs.collected_at) if t is not None]
        errors = [e for e in (nodes.error, jobs.error) if e]
        error = f"the Slurm exporter reports: {'; '.join(dict.fromkeys(errors))}" if errors else None
        if error and not (nodes.nodes or nodes.partitions or jobs.jobs):
            times = []  # an exporter that never collected anything: no data, however recent its answer
        return SlurmStatus(self.node, self.base_url, nodes.nodes, nodes.partitions, jobs.jobs,
                           summarize(nodes.nodes, jobs.jobs), min(times) if times else None, time.time(), error)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        url = self.base_url + path
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._fetch(url, params)
        except TimeoutError:
            raise SlurmSourceError(f"the Slurm exporter at {self.base_url} did not answer within "
                                   f"{self.timeout_s:g} s; check that the head node is up") from None
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise SlurmSourceError(f"the Slurm exporter at {self.base_url} sent a {path} reply that is not JSON "
                                   f"({_short(exc)}); is {self.base_url} the Slurm exporter (port 9341)?") from None

    async def _fetch(self, url: str, params: Mapping[str, str] | None) -> bytes:
        try:
            async with self._client.stream("GET", url, params=params) as response:
                if response.status_code != 200:
                    raise SlurmSourceError(self._status_message(response, url), response.status_code == 401)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_PAYLOAD_BYTES:
                        raise SlurmSourceError(f"{url} sent more than {MAX_PAYLOAD_BYTES // 2**20} MiB")
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise SlurmSourceError(f"the Slurm exporter at {self.base_url} did not answer within "
                                   f"{self.timeout_s:g} s; check that the head node is up") from None
        except httpx.ConnectError as exc:
            raise SlurmSourceError(f"cannot connect to the Slurm exporter at {self.base_url} ({_short(exc)}); "
                                   "check that it runs on the head node and the Slurm URL in Settings → Nodes"
                                   ) from None
        except httpx.HTTPError as exc:
            raise SlurmSourceError(f"the Slurm exporter at {self.base_url} failed: {_short(exc)}") from None

    def _status_message(self, response: httpx.Response, url: str) -> str:
        status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        secret = f"node-token:{self.node or '<node>'}"
        if response.status_code == 401 and self._has_token:
            return (f"the Slurm exporter at {self.base_url} refused the access token ({status}): the token stored "
                    f"in the keyring as {secret} does not match the pod's GPUWATCH_POD_TOKEN")
        if response.status_code == 401:
            return (f"the Slurm exporter at {self.base_url} needs an access token ({status}): store the pod's "
                    f"GPUWATCH_POD_TOKEN in the keyring as {secret} (keyring set gpuwatch {secret})")
        if response.status_code == 404:
            return f"{status} from {url}: the Slurm URL should be the exporter's base URL, like http://host:9341"
        return f"the Slurm exporter at {self.base_url} answered {status} for {url}"


def parse_nodes(data: Any) -> NodesReport:
    """A ``/nodes`` reply; SlurmSourceError naming the field when its shape is wrong."""
    try:
        top = _object(data, "the reply")
        return NodesReport(_opt_time(top, "collected_at"), _opt_text(top, "error"),
                           _each(top, "nodes", _node), _each(top, "partitions", _partition))
    except PayloadError as exc:
        raise SlurmSourceError(f"the Slurm exporter's /nodes reply is malformed: {exc}") from None


def parse_jobs(data: Any) -> JobsReport:
    """A ``/jobs`` reply; SlurmSourceError naming the field when its shape is wrong."""
    try:
        top = _object(data, "the reply")
        return JobsReport(_opt_time(top, "collected_at"), _opt_text(top, "error"), _each(top, "jobs", _job))
    except PayloadError as exc:
        raise SlurmSourceError(f"the Slurm exporter's /jobs reply is malformed: {exc}") from None


def _node(d: Mapping[str, Any]) -> SlurmNodeInfo:
    return SlurmNodeInfo(
        _text(d, "name", required=True), _text(d, "state", required=True).lower(), _text(d, "reason"),
        _names(d, "partitions"), _count(d, "cpus_total"), _count(d, "cpus_alloc"), _count(d, "gpus_total"),
        _count(d, "gpus_alloc"), _count(d, "memory_mb"))


def _partition(d: Mapping[str, Any]) -> SlurmPartition:
    default = d.get("default", False)
    if not isinstance(default, bool):
        raise PayloadError(f"'default' must be true or false, not {default!r}")
    return SlurmPartition(
        _text(d, "name", required=True), default, _text(d, "state") or "up", _names(d, "nodes"),
        _count(d, "cpus_total"), _count(d, "cpus_alloc"), _count(d, "gpus_total"), _count(d, "gpus_alloc"),
        _opt_count(d, "time_limit_s"), _count(d, "jobs_pending"), _count(d, "jobs_running"))


def _job(d: Mapping[str, Any]) -> SlurmJob:
    job_id = d.get("id")
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        job_id = str(job_id)  # an older exporter may send numbers
    if not isinstance(job_id, str) or not job_id:
        raise PayloadError(f"'id' must be a job id text, not {job_id!r}")
    return SlurmJob(
        job_id, _text(d, "name"), _text(d, "user"), _text(d, "partition"), _text(d, "state", required=True).upper(),
        _text(d, "reason"), _text(d, "nodes"), _count(d, "num_nodes"), _count(d, "cpus"), _count(d, "gpus"),
        _opt_time(d, "submit_time"), _opt_time(d, "start_time"), _opt_count(d, "time_limit_s"))


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _each[T](top: Mapping[str, Any], key: str, build: Callable[[Mapping[str, Any]], T]) -> tuple[T, ...]:
    items = top.get(key, [])
    if not isinstance(items, list):
        raise PayloadError(f"'{key}' must be a list, not {type(items).__name__}")
    built = []
    for number, item in enumerate(items, 1):
        try:
            built.append(build(_object(item, "the entry")))
        except PayloadError as exc:
            raise PayloadError(f"{key} entry {number}: {exc}") from None
    return tuple(built)


def _text(d: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = d.get(key, None if required else "")
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"'{key}' must be text, not {value!r}")
    return value


def _opt_text(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"'{key}' must be text or null, not {value!r}")
    return value or None


def _names(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PayloadError(f"'{key}' must be a list of names, not {value!r}")
    return tuple(value)


def _count(d: Mapping[str, Any], key: str) -> int:
    value = _opt_count(d, key)
    return 0 if value is None else value


def _opt_count(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"'{key}' must be a whole number of at least 0, not {value!r}")
    return value


def _opt_time(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PayloadError(f"'{key}' must be a time in epoch seconds or null, not {value!r}")
    return float(value)


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]
