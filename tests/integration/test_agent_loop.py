"""The agent loop through the real openai client against the loopback OpenAI test server: tool steps."""

from __future__ import annotations

import json
from typing import Any

from gpuwatch_desktop.agent.events import AnswerFinished, TextDelta, ToolFinished, ToolStarted
from gpuwatch_desktop.agent.loop import FORCE_ANSWER
from tests.integration.test_agent_support import Recorder, finished, only, run_agent
from tests.openai_server import OpenAIServer, text, tool_calls


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_a_tool_call_then_an_answer_streams_and_sends_the_tool_result_back() -> None:
    with OpenAIServer([tool_calls(("cluster_status", {})), text("The cluster has **no nodes** yet.")]) as server:
        events = run_agent(server)
    started, done = only(events, ToolStarted), finished(events)
    assert [(s.name, s.arguments) for s in started] == [("cluster_status", "{}")]
    assert done[0].ok and done[0].summary == "0 nodes (none watched), 0 GPUs, 0 alerts firing"
    assert "".join(d.text for d in only(events, TextDelta)) == "The cluster has **no nodes** yet."
    assert len(only(events, TextDelta)) == 3  # streamed in pieces, not at the end
    answer = events[-1]
    assert isinstance(answer, AnswerFinished)
    assert (answer.text, answer.steps, answer.forced) == ("The cluster has **no nodes** yet.", 2, False)
    first, second = server.requests
    assert first["stream"] is True and first["model"] == "test-model" and first["temperature"] == 0.2
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "read-only" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"cluster_status", "metric_history", "slurm_jobs"}
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "cluster_status"
    assert json.loads(tool_messages(second)[0])["gpus"] == 0
    assert second["messages"][-1]["tool_call_id"] == second["messages"][-2]["tool_calls"][0]["id"]
    assert [m["role"] for m in answer.messages] == ["assistant", "tool", "assistant"]


def test_parallel_calls_run_at_the_same_time() -> None:
    recorder = Recorder()
    script = [tool_calls(("sleep", {"seconds": 0.4}), ("sleep", {"seconds": 0.41})), text("Both done.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools())
    (start_a, end_a), (start_b, end_b) = recorder.spans
    assert start_b < end_a and start_a < end_b  # the two runs overlap in time
    kinds = [type(e).__name__ for e in events if isinstance(e, ToolStarted | ToolFinished)]
    assert kinds == ["ToolStarted", "ToolStarted", "ToolFinished", "ToolFinished"]
    assert tool_messages(server.requests[1]) == ["slept 0.4 s", "slept 0.41 s"]


def test_text_before_a_tool_step_is_kept_and_the_answer_equals_the_stream() -> None:
    script = [tool_calls(("cluster_status", {}), content="Let me check."), text("Nothing is wrong.")]
    with OpenAIServer(script) as server:
        events = run_agent(server)
    streamed = "".join(d.text for d in only(events, TextDelta))
    answer = events[-1]
    assert isinstance(answer, AnswerFinished)
    assert streamed == answer.text == "Let me check.\n\nNothing is wrong."
    assert server.requests[1]["messages"][-2]["content"] == "Let me check."


def test_malformed_arguments_go_back_as_an_error_and_the_conversation_stays_usable() -> None:
    script = [tool_calls(("gpu_metrics", '{"node": "node-1",')), text("Sorry, I sent bad arguments."),
              text("Second answer.")]
    with OpenAIServer(script) as server:
        events = run_agent(server)
        [bad] = finished(events)
        assert not bad.ok and bad.result.startswith("Error: gpu_metrics: the arguments are not valid JSON")
        assert tool_messages(server.requests[1]) == [bad.result]
        answer = events[-1]
        assert isinstance(answer, AnswerFinished) and answer.text == "Sorry, I sent bad arguments."
        history = [{"role": "user", "content": "What's wrong with the cluster?"}, *answer.messages]
        again = run_agent(server, question="And now?", history=history)
    assert isinstance(again[-1], AnswerFinished) and again[-1].text == "Second answer."
    sent = server.requests[2]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_calls"][0]["function"]["arguments"] == '{"node": "node-1",'


def test_an_unknown_tool_and_wrong_argument_types_are_errors_for_the_model() -> None:
    script = [tool_calls(("reboot_node", {"node": "node-1"}), ("metric_history", {"metric": "gpu_util",
                                                                                   "node": "n", "gpu": "first"}),
                         ("metric_history", {"metric": "fan_speed", "node": "n", "gpu": 0})),
              text("I cannot do that.")]
    with OpenAIServer(script) as server:
        events = run_agent(server)
    results = tool_messages(server.requests[1])
    assert results[0].startswith("Error: there is no tool named 'reboot_node'. Tools: cluster_status,")
    assert results[1] == "Error: metric_history: gpu must be integer, got 'first'"
    assert results[2].startswith("Error: metric_history: metric must be one of ['gpu_util',")
    assert [f.ok for f in finished(events)] == [False, False, False]
    assert isinstance(events[-1], AnswerFinished)


def test_a_tool_that_raises_is_reported_to_the_model() -> None:
    recorder = Recorder()
    with OpenAIServer([tool_calls(("explode", {})), text("The tool failed.")]) as server:
        events = run_agent(server, tools=recorder.tools())
    [done] = finished(events)
    assert not done.ok and done.summary == "failed: RuntimeError"
    assert tool_messages(server.requests[1]) == ["Error: explode failed: RuntimeError: disk on fire"]
    assert isinstance(events[-1], AnswerFinished)


def test_a_model_that_never_stops_calling_tools_gets_a_forced_answer_without_tools() -> None:
    recorder = Recorder()
    script = [tool_calls(("echo", {"word": f"w{i}"})) for i in range(9)] + [text("Here is what I found.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools())
    answer = events[-1]
    assert isinstance(answer, AnswerFinished)
    assert (answer.steps, answer.forced, answer.text) == (10, True, "Here is what I found.")
    assert len(recorder.echoes) == 9
    assert len({e.call_id for e in only(events, ToolStarted)}) == 9  # the server reused ids; the run does not
    requests = server.requests
    assert len(requests) == 10 and all("tools" in r for r in requests[:9])
    assert "tools" not in requests[-1]
    assert requests[-1]["messages"][-1] == {"role": "user", "content": FORCE_ANSWER}


def test_tool_calls_on_the_forced_step_are_ignored_and_its_text_is_the_answer() -> None:
    recorder = Recorder()
    script = [tool_calls(("echo", {"word": "a"})), tool_calls(("echo", {"word": "b"}), content="Partial answer.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools(), max_steps=2)
    assert [e["word"] for e in recorder.echoes] == ["a"]
    answer = events[-1]
    assert isinstance(answer, AnswerFinished) and (answer.text, answer.forced) == ("Partial answer.", True)


def test_an_identical_repeated_call_is_answered_from_the_first_result() -> None:
    recorder = Recorder()
    script = [tool_calls(("echo", {"word": "x", "times": 2})),
              tool_calls(("echo", '{"times": 2, "word": "x"}'), ("echo", {"word": "y"})),
              text("Done.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools())
    assert recorder.echoes == [{"word": "x", "times": 2}, {"word": "y", "times": 1}]
    first, repeated, other = finished(events)
    assert (first.cached, repeated.cached, other.cached) == (False, True, False)
    assert repeated.result == first.result == '{"echo":["x","x"]}'
    assert tool_messages(server.requests[2])[1] == first.result


def test_identical_calls_in_one_step_run_once() -> None:
    recorder = Recorder()
    script = [tool_calls(("echo", {"word": "z"}), ("echo", {"word": "z"})), text("Done.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools())
    assert len(recorder.echoes) == 1
    assert [f.cached for f in finished(events)] == [False, True]
    assert tool_messages(server.requests[1]) == ['{"echo":["z"]}', '{"echo":["z"]}']


def test_a_mutating_tool_is_refused_without_approval_and_runs_only_when_approved() -> None:
    recorder = Recorder()
    asked: list[tuple[str, dict[str, Any]]] = []

    async def yes(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return arguments["node"] == "node-2"

    script = [tool_calls(("restart_node", {"node": "node-1"})), text("Refused.")]
    with OpenAIServer(script) as server:
        run_agent(server, tools=recorder.tools())
        assert recorder.changes == []
        assert tool_messages(server.requests[1])[0].startswith("Error: restart_node changes the cluster and needs")
        server.add(tool_calls(("restart_node", {"node": "node-1"}), ("restart_node", {"node": "node-2"})),
                   text("One restarted."))
        run_agent(server, tools=recorder.tools(), approve=yes)
    assert asked == [("restart_node", {"node": "node-1"}), ("restart_node", {"node": "node-2"})]
    assert recorder.changes == ["node-2"]
    assert tool_messages(server.requests[3])[0] == "Error: the user declined restart_node; do not retry it."


def test_old_tool_results_are_dropped_first_when_the_request_outgrows_the_context() -> None:
    recorder = Recorder()
    script = [tool_calls(("echo", {"word": "a" * 50, "times": 60})), tool_calls(("echo", {"word": "b"})),
              text("Done.")]
    with OpenAIServer(script) as server:
        run_agent(server, tools=recorder.tools(), context_chars=4500)
    last = tool_messages(server.requests[2])
    assert last[0].startswith("[this tool result was dropped") and last[1] == '{"echo":["b"]}'
    assert len(tool_messages(server.requests[1])[0]) > 3000  # sent whole while it fitted


def test_a_tool_over_its_time_limit_is_an_error_and_the_others_still_answer() -> None:
    recorder = Recorder()
    script = [tool_calls(("sleep", {"seconds": 5}), ("echo", {"word": "quick"})), text("One tool was slow.")]
    with OpenAIServer(script) as server:
        events = run_agent(server, tools=recorder.tools(), tool_timeout_s=0.3)
    slow, quick = tool_messages(server.requests[1])
    assert slow == "Error: sleep did not finish within 0.3 s; try a narrower question (one node, a shorter range)"
    assert quick == '{"echo":["quick"]}'
    assert [f.ok for f in finished(events)] == [True, False]  # in the order they finished
    assert isinstance(events[-1], AnswerFinished)
