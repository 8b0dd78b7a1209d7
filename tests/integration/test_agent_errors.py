"""How an agent run ends when the model server fails, times out, overflows, says nothing, or the user stops it."""

from __future__ import annotations

import asyncio
import socket
import time

from gpuwatch_desktop.agent.events import AgentEvent, AgentFailed, AnswerFinished, TextDelta, ToolStarted
from gpuwatch_desktop.agent.loop import EMPTY_ANSWER
from tests.integration.test_agent_support import Recorder, finished, run_agent, session_for
from tests.openai_server import OpenAIServer, broken, empty, error, text, tool_calls


def failure(events: list[AgentEvent]) -> AgentFailed:
    last = events[-1]
    assert isinstance(last, AgentFailed), last
    assert not any(isinstance(e, AnswerFinished) for e in events)
    return last


def test_a_server_error_ends_the_run_with_what_failed_and_keeps_the_steps_before_it() -> None:
    script = [tool_calls(("cluster_status", {})), error(500, "CUDA out of memory")]
    with OpenAIServer(script) as server:
        events = run_agent(server)
    failed = failure(events)
    assert failed.kind == "server"
    assert "HTTP 500: CUDA out of memory" in failed.message and "Try again" in failed.message
    assert [m["role"] for m in failed.messages] == ["assistant", "tool"]
    assert len(server.requests) == 2  # no retry behind the user's back
    assert finished(events)[0].ok


def test_a_server_that_does_not_answer_in_time_is_a_timeout() -> None:
    with OpenAIServer([text("too late", delay_s=5)]) as server:
        started = time.perf_counter()
        events = run_agent(server, timeout_s=1)
        took = time.perf_counter() - started
    failed = failure(events)
    assert failed.kind == "timeout" and "did not answer within 1 s" in failed.message
    assert took < 3


def test_a_context_length_error_says_to_start_a_new_conversation() -> None:
    message = "This model's maximum context length is 4096 tokens. However, you requested 5120 tokens."
    script = [error(400, message, code="context_length_exceeded", kind="invalid_request_error")]
    with OpenAIServer(script) as server:
        failed = failure(run_agent(server))
    assert failed.kind == "context_length"
    assert "Start a new conversation" in failed.message and "maximum context length is 4096" in failed.message


def test_a_wrong_api_key_or_model_points_at_the_settings() -> None:
    script = [error(401, "invalid api key", kind="authentication_error"),
              error(404, "The model `x` does not exist.", kind="not_found")]
    with OpenAIServer(script) as server:
        key = failure(run_agent(server))
        model = failure(run_agent(server))
    assert key.kind == "config" and "Check the API key in Settings" in key.message
    assert model.kind == "config" and "no model 'test-model'" in model.message and "Test connection" in model.message


def test_a_server_that_is_not_running_is_reported_with_its_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    failed = failure(run_agent(f"http://127.0.0.1:{port}/v1"))
    assert failed.kind == "server"
    assert f"Cannot reach the model server at http://127.0.0.1:{port}/v1" in failed.message


def test_a_stream_that_breaks_off_is_a_server_failure_and_the_text_so_far_was_shown() -> None:
    with OpenAIServer([broken("The GPUs on node-1 are fine but", after=3)]) as server:
        events = run_agent(server)
    failed = failure(events)
    assert failed.kind == "server"
    assert failed.message.startswith(
        f"The connection to the model server at {server.base_url} broke while it answered (")
    assert failed.message.endswith("Try again.")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The GPUs on node"  # 2 of 4 pieces


def test_an_empty_answer_is_a_clear_failure() -> None:
    with OpenAIServer([empty()]) as server:
        failed = failure(run_agent(server))
    assert (failed.kind, failed.message, failed.messages) == ("empty", EMPTY_ANSWER, ())


def test_stop_during_the_stream_closes_the_request_and_yields_nothing_more() -> None:
    with OpenAIServer([text("Checking the GPUs now, one moment", pieces=4, stall_after=2, stall_s=30)]) as server:
        seen: list[AgentEvent] = []

        async def scenario() -> float:
            session = session_for(server)

            async def consume() -> None:
                async for event in session.run([], "Why is utilisation low?"):
                    seen.append(event)

            task = asyncio.create_task(consume())
            while not seen:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the stream is now stalled after its first text
            stopped = time.perf_counter()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            took = time.perf_counter() - stopped
            await session.client.close()
            assert task.cancelled()
            return took

        took = asyncio.run(scenario())
        deadline = time.monotonic() + 3
        while not server.recorded[0].disconnected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.recorded[0].disconnected  # the server saw the connection close mid-stream
    assert took < 0.5
    assert [type(e) for e in seen] == [TextDelta]


def test_stop_during_a_tool_cancels_the_tool_at_once() -> None:
    recorder = Recorder()
    with OpenAIServer([tool_calls(("hang", {}), ("sleep", {"seconds": 20}))]) as server:
        seen: list[AgentEvent] = []

        async def scenario() -> float:
            session = session_for(server, tools=recorder.tools())

            async def consume() -> None:
                async for event in session.run([], "q"):
                    seen.append(event)

            task = asyncio.create_task(consume())
            while len(seen) < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            stopped = time.perf_counter()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.client.close()
            assert recorder.hang_cancelled_at is not None
            return recorder.hang_cancelled_at - stopped

        took = asyncio.run(scenario())
    assert 0 <= took < 0.2
    assert [type(e) for e in seen] == [ToolStarted, ToolStarted]
    assert recorder.spans == []  # the sleeping tool never finished either
    assert len(server.requests) == 1
