"""RunPod's GraphQL API: the account's pods (with runtime GPU utilisation), start and stop a pod.

GraphQL, not the REST API (rest.runpod.io/v1), because only GraphQL returns ``runtime.gpus`` (per-GPU
utilisation and memory). The API key travels in the ``Authorization: Bearer`` header, never in the URL, so it
cannot end up in a logged URL. Every failure is a ``RunPodApiError`` whose ``kind`` says what went wrong and whose
message says what to do; the key never appears in one.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from statistics import fmean
from typing import Any, Literal

import httpx

from gpuwatch_desktop import __version__
from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.provisioning.model import ProvisioningError

RUNPOD_GRAPHQL_URL = "https://api.runpod.io/graphql"
RUNPOD_API_KEY_SECRET = "runpod-api-key"  # keyring name of the key (SecretStore), shared with Terraform runs
RUNPOD_KEYS_PAGE = "https://www.runpod.io/console/user/settings"  # where a user creates an API key
PROXY_URL = "https://{pod_id}-{port}.proxy.runpod.net"

ErrorKind = Literal["auth", "rate_limit", "network", "server", "protocol", "refused"]

PODS_QUERY = """query Pods {
  myself {
    pods {
      id name desiredStatus costPerHr gpuCount imageName
      machine { gpuDisplayName }
      runtime {
        uptimeInSeconds
        ports { ip isIpPublic privatePort publicPort type }
        gpus { id gpuUtilPercent memoryUtilPercent }
      }
    }
  }
}"""
STOP_MUTATION = """mutation StopPod($podId: String!) {
  podStop(input: {podId: $podId}) { id desiredStatus }
}"""
RESUME_MUTATION = """mutation ResumePod($podId: String!, $gpuCount: Int!) {
  podResume(input: {podId: $podId, gpuCount: $gpuCount}) { id desiredStatus }
}"""
_AUTH_WORDS = ("unauthorized", "unauthenticated", "not authorized", "forbidden", "api key", "apikey")


class RunPodApiError(ProvisioningError):
    """RunPod's API could not be used; ``kind`` says why, ``retry_after_s`` when it asked us to wait."""

    def __init__(self, kind: ErrorKind, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class GpuUse:
    """One GPU of a running pod, as RunPod's runtime reports it."""

    id: str
    util_percent: float
    memory_percent: float


@dataclass(frozen=True, slots=True)
class RunPodPod:
    """One pod of the account. ``uptime_s`` is None while the pod has no runtime (stopped or starting)."""

    id: str
    name: str
    desired_status: str  # RUNNING | EXITED | TERMINATED | ...
    gpu_type: str
    gpu_count: int
    cost_per_hour: float
    image: str = ""
    uptime_s: int | None = None
    gpus: tuple[GpuUse, ...] = ()
    http_ports: tuple[int, ...] = ()  # ports reachable through RunPod's HTTP proxy

    @property
    def running(self) -> bool:
        """Whether the pod is (meant to be) running and billed for its GPUs."""
        return self.desired_status == "RUNNING"

    @property
    def status(self) -> str:
        if self.running:
            return "running" if self.uptime_s is not None else "starting"
        return {"EXITED": "stopped"}.get(self.desired_status, self.desired_status.lower() or "unknown")

    @property
    def gpu_util_percent(self) -> float | None:
        return fmean(g.util_percent for g in self.gpus) if self.gpus else None

    @property
    def memory_percent(self) -> float | None:
        return fmean(g.memory_percent for g in self.gpus) if self.gpus else None

    def proxy_url(self, port: int) -> str:
        return PROXY_URL.format(pod_id=self.id, port=port)


def running_cost(pods: tuple[RunPodPod, ...] | list[RunPodPod]) -> float:
    """Dollars per hour of the pods that run now."""
    return sum(p.cost_per_hour for p in pods if p.running)


class RunPodClient:
    """An async client for one API key. ``aclose`` when done."""

    def __init__(self, api_key: str, *, url: str = RUNPOD_GRAPHQL_URL, timeout_s: float = 15.0) -> None:
        if not api_key.strip():
            raise RunPodApiError("auth", f"No RunPod API key: create one at {RUNPOD_KEYS_PAGE} (API Keys) "
                                         "and enter it in the RunPod tab.")
        self.url = url
        self._http = httpx.AsyncClient(
            timeout=timeout_s, verify=shared_ssl_context(),
            headers={"Authorization": f"Bearer {api_key.strip()}", "User-Agent": f"gpuwatch/{__version__}"})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def pods(self) -> tuple[RunPodPod, ...]:
        """Every pod of the account, in RunPod's order."""
        data = await self._call(PODS_QUERY, {})
        myself = data.get("myself")
        if myself is None:  # what RunPod answers when the key is not accepted as a user
            raise RunPodApiError("auth", _auth_message("it returned no account for this key"))
        pods = myself.get("pods") if isinstance(myself, dict) else None
        if not isinstance(pods, list):
            raise RunPodApiError("protocol", "RunPod's API answered without a list of pods; try again later.")
        return tuple(_pod_from(raw) for raw in pods)

    async def stop_pod(self, pod_id: str) -> str:
        """Stop a pod (its volume is kept, GPUs are released); RunPod's new desired status."""
        return await self._mutate("podStop", STOP_MUTATION, {"podId": pod_id})

    async def start_pod(self, pod_id: str, gpu_count: int) -> str:
        """Resume a stopped pod with ``gpu_count`` GPUs; RunPod's new desired status."""
        return await self._mutate("podResume", RESUME_MUTATION, {"podId": pod_id, "gpuCount": max(1, gpu_count)})

    async def _mutate(self, field: str, query: str, variables: dict[str, Any]) -> str:
        data = await self._call(query, variables)
        result = data.get(field)
        if not isinstance(result, dict):
            raise RunPodApiError("refused", f"RunPod did not {_verb(field)} pod {variables['podId']}: "
                                            "it returned nothing. Check the pod in RunPod's console.")
        return str(result.get("desiredStatus") or "")

    async def _call(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.post(self.url, json={"query": query, "variables": variables})
        except httpx.TimeoutException:
            raise RunPodApiError("network", f"RunPod's API ({self._host()}) did not answer in time; check the "
                                            "network and try again.") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise RunPodApiError("network", f"Cannot reach RunPod's API ({self._host()}): {reason}. Check the "
                                            "network connection.") from None
        return _answer(response)

    def _host(self) -> str:
        return httpx.URL(self.url).host or self.url


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The ``data`` of a GraphQL answer, or the error it stands for."""
    status = response.status_code
    if status in (401, 403):
        raise RunPodApiError("auth", _auth_message(f"HTTP {status}"))
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"))
        when = f"in {wait:.0f} s" if wait is not None else "in a minute"
        raise RunPodApiError("rate_limit", f"RunPod's API is rate limiting this key (HTTP 429); "
                                           f"trying again {when}.", wait)
    if status >= 500:
        raise RunPodApiError("server", f"RunPod's API failed (HTTP {status}); it is probably a passing problem "
                                       "on RunPod's side, try again in a minute.")
    try:
        body = response.json()
    except ValueError:
        raise RunPodApiError("protocol", f"RunPod's API answered HTTP {status} with something that is not JSON "
                                         f"({_snippet(response.text)}); try again later.") from None
    if not isinstance(body, dict):
        raise RunPodApiError("protocol", "RunPod's API answered with JSON that is not a GraphQL response.")
    _raise_errors(body.get("errors"), status)
    data = body.get("data")
    if status != 200 or not isinstance(data, dict):
        raise RunPodApiError("protocol", f"RunPod's API answered HTTP {status} without data; try again later.")
    return data


def _raise_errors(errors: object, status: int) -> None:
    if not errors:
        return
    items = errors if isinstance(errors, list) else [errors]
    messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in items]
    text = "; ".join(m.strip() for m in messages if m.strip()) or f"HTTP {status}"
    if any(word in text.lower() for word in _AUTH_WORDS):
        raise RunPodApiError("auth", _auth_message(text))
    raise RunPodApiError("refused", f"RunPod refused: {_shorten(text, 300)}")


def _auth_message(detail: str) -> str:
    return (f"RunPod did not accept the API key ({detail}). Check it, or create a new one at "
            f"{RUNPOD_KEYS_PAGE} (API Keys; starting and stopping pods needs a key with write access).")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _pod_from(raw: object) -> RunPodPod:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RunPodApiError("protocol", "RunPod's API sent a pod without an id; try again later.")
    machine: dict[str, Any] = raw["machine"] if isinstance(raw.get("machine"), dict) else {}
    runtime: dict[str, Any] | None = raw["runtime"] if isinstance(raw.get("runtime"), dict) else None
    try:
        return RunPodPod(
            id=str(raw["id"]), name=str(raw.get("name") or raw["id"]),
            desired_status=str(raw.get("desiredStatus") or ""),
            gpu_type=str(machine.get("gpuDisplayName") or ""), gpu_count=int(raw.get("gpuCount") or 0),
            cost_per_hour=float(raw.get("costPerHr") or 0.0), image=str(raw.get("imageName") or ""),
            uptime_s=None if runtime is None else int(runtime.get("uptimeInSeconds") or 0),
            gpus=tuple(_gpu_from(g) for g in (runtime or {}).get("gpus") or ()),
            http_ports=tuple(sorted(int(p["privatePort"]) for p in (runtime or {}).get("ports") or ()
                                    if isinstance(p, dict) and p.get("type") == "http" and p.get("privatePort"))))
    except (TypeError, ValueError, KeyError) as exc:
        raise RunPodApiError("protocol", f"RunPod's API sent pod {raw.get('id')} in a form this version does not "
                                         f"understand ({type(exc).__name__}: {exc}).") from None


def _gpu_from(raw: object) -> GpuUse:
    if not isinstance(raw, dict):
        raise TypeError("a runtime GPU is not an object")
    return GpuUse(str(raw.get("id") or ""), float(raw.get("gpuUtilPercent") or 0.0),
                  float(raw.get("memoryUtilPercent") or 0.0))


def _verb(field: str) -> str:
    return "stop" if field == "podStop" else "start"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _snippet(text: str, limit: int = 80) -> str:
    return repr(_shorten(text, limit))
