"""The model server: an ``openai.AsyncOpenAI`` client from the settings, "Test connection", local auto-detect,
and what each kind of failure means for the user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from gpuwatch_desktop.agent.events import FailureKind
from gpuwatch_desktop.config.llm import LOCAL_SERVERS, LlmConfig
from gpuwatch_desktop.core.errors import ConfigError

if TYPE_CHECKING:  # openai is imported where it is used: importing it costs ~0.6 s of start-up before the first window
    import openai

NO_KEY = "not-needed"  # local servers (vLLM, Ollama, LM Studio) take any key; the client wants one
_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context length", "too many tokens")


def make_client(config: LlmConfig, api_key: str | None, max_retries: int = 0) -> openai.AsyncOpenAI:
    """A client for the configured server. No retries by default: a failed step is shown, and the user retries."""
    if not config.configured:
        raise ConfigError("no model server configured: set its URL and model in Settings → Model")
    import openai

    return openai.AsyncOpenAI(base_url=config.base_url, api_key=api_key or NO_KEY, timeout=config.timeout_s,
                              max_retries=max_retries)


async def list_models(client: openai.AsyncOpenAI) -> list[str]:
    """The server's model ids, sorted ("Test connection"). Raises openai.APIError; see ``describe_error``."""
    page = await client.models.list()
    return sorted(m.id for m in page.data)


async def detect_local_servers(timeout_s: float = 0.5, servers: Sequence[tuple[str, str]] = LOCAL_SERVERS
                               ) -> list[tuple[str, str, list[str]]]:
    """(name, base URL, model ids) of each usual local server that answers ``GET /v1/models`` now.

    Offered to the user, never assumed. Probes run concurrently; any failure means "not there".
    """
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as http:
        found = await asyncio.gather(*(_probe(http, name, url) for name, url in servers))
    return [f for f in found if f is not None]


async def _probe(http: httpx.AsyncClient, name: str, base_url: str) -> tuple[str, str, list[str]] | None:
    try:
        response = await http.get(base_url.rstrip("/") + "/models")
        data = response.json()["data"] if response.status_code == 200 else None
        models = sorted(str(m["id"]) for m in data) if isinstance(data, list) else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return None if models is None else (name, base_url, models)


def describe_error(exc: BaseException, config: LlmConfig, streaming: bool = False) -> tuple[FailureKind, str]:
    """The failure kind and a message saying what failed and what to do (``streaming``: the answer had begun)."""
    import openai

    server = config.base_url
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", (f"The model server at {server} did not answer within {config.timeout_s:g} s. "
                           "It may be busy or loading the model: try again, or raise the timeout in Settings.")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, config)
    if isinstance(exc, openai.APIConnectionError) and not streaming:
        return "server", (f"Cannot reach the model server at {server} ({_cause(exc)}). "
                          "Check that it is running and that the URL in Settings is right.")
    cause = _cause(exc) if isinstance(exc, openai.APIConnectionError) else f"{type(exc).__name__}: {exc}"
    return "server", f"The connection to the model server at {server} broke while it answered ({cause}). Try again."


def _status_error(exc: openai.APIStatusError, config: LlmConfig) -> tuple[FailureKind, str]:
    status, detail = exc.status_code, _detail(exc)
    said = f"{detail} {getattr(exc, 'code', '') or ''}".lower()
    if status in (400, 413) and any(m in said for m in _CONTEXT_MARKERS):
        return "context_length", ("The conversation no longer fits the model's context window "
                                  f"({detail}). Start a new conversation, or ask a narrower question.")
    if status in (401, 403):
        return "config", (f"The model server refused the API key (HTTP {status}: {detail}). "
                          "Check the API key in Settings → Model.")
    if status == 404:
        return "config", (f"The model server has no model {config.model!r} or no chat API at {config.base_url} "
                          f"(HTTP 404: {detail}). Use Test connection in Settings to list its models.")
    if status == 429:
        return "server", f"The model server is rate-limiting requests (HTTP 429: {detail}). Wait a moment and retry."
    if status >= 500:
        return "server", (f"The model server failed (HTTP {status}: {detail}). Try again; if it keeps failing, "
                          "check the server's log.")
    return "server", f"The model server rejected the request (HTTP {status}: {detail})."


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)[:300]
    return str(exc.message)[:300]


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
