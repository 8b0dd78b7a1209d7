"""The model server client: Test connection (list models) and the local-server auto-detect, on loopback."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import openai
import pytest

from gpuwatch_desktop.agent.client import describe_error, detect_local_servers, list_models, make_client
from gpuwatch_desktop.config.llm import LlmConfig
from gpuwatch_desktop.core.errors import ConfigError
from tests.openai_server import OpenAIServer, text, tool_calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_test_connection_lists_the_models() -> None:
    with OpenAIServer(models=["qwen3-30b", "llama-3.1-8b"]) as server:
        config = LlmConfig(base_url=server.base_url, model="qwen3-30b")

        async def listed() -> list[str]:
            client = make_client(config, "sk-test")
            try:
                return await list_models(client)
            finally:
                await client.close()

        assert asyncio.run(listed()) == ["llama-3.1-8b", "qwen3-30b"]


def test_test_connection_to_nothing_explains_what_to_check() -> None:
    config = LlmConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout_s=2)

    async def attempt() -> BaseException:
        client = make_client(config, None)
        try:
            await list_models(client)
        except openai.APIError as exc:
            return exc
        finally:
            await client.close()
        raise AssertionError("listing models of a closed port succeeded")

    kind, message = describe_error(asyncio.run(attempt()), config)
    assert kind == "server" and message.startswith(f"Cannot reach the model server at {config.base_url}")


def test_an_unconfigured_model_server_gives_no_client() -> None:
    with pytest.raises(ConfigError, match="no model server configured"):
        make_client(LlmConfig(), None)


def test_auto_detect_offers_only_servers_that_answer(http_503_url: str) -> None:
    with OpenAIServer(models=["served-model"]) as server:
        candidates = [("vLLM", server.base_url), ("Ollama", f"http://127.0.0.1:{free_port()}/v1"),
                      ("LM Studio", http_503_url.removesuffix("/metrics") + "/v1")]
        found = asyncio.run(detect_local_servers(0.5, candidates))
    assert found == [("vLLM", server.base_url, ["served-model"])]



def test_the_test_server_also_answers_without_streaming() -> None:
    script = [tool_calls(("gpu_metrics", {"node": "node-1"}), ("active_alerts", {})), text("plain answer")]
    with OpenAIServer(script) as server:

        async def ask_twice() -> tuple[Any, Any]:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
            try:
                messages: Any = [{"role": "user", "content": "q"}]
                first = await client.chat.completions.create(model="m", messages=messages)
                second = await client.chat.completions.create(model="m", messages=messages)
                return first, second
            finally:
                await client.close()

        first, second = asyncio.run(ask_twice())
        assert server.requests[0].get("stream") is None
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("gpu_metrics", '{"node": "node-1"}'), ("active_alerts", "{}")]
    assert second.choices[0].message.content == "plain answer" and second.choices[0].finish_reason == "stop"
