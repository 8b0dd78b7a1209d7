"""Tool output cut to its budget: valid JSON with explicit markers, text by lines, logs keeping their end."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gpuwatch_desktop.agent.budget import dump, fit
from gpuwatch_desktop.agent.context import DROPPED, fit_messages, size


def test_output_within_the_budget_is_sent_whole() -> None:
    value = {"gpus": [1, 2, 3]}
    assert fit(value, 100) == ('{"gpus":[1,2,3]}', False)


def test_the_biggest_list_loses_items_and_says_how_many() -> None:
    value = {"node": "node-1", "gpus": [{"gpu": i, "util": "87 %", "model": "H100"} for i in range(50)]}
    text, cut = fit(value, 600)
    assert cut and len(text) <= 600
    kept = json.loads(text)
    marker = kept["gpus"][-1]
    items = kept["gpus"][:-1]
    assert kept["node"] == "node-1" and items == value["gpus"][:len(items)]
    assert marker == f"… truncated ({50 - len(items)} more items)"
    assert len(items) >= 10  # as many as fit, not a token few


def test_nested_lists_are_cut_too() -> None:
    value = {"nodes": [{"node": f"n{k}", "xid": list(range(200))} for k in range(3)]}
    text, cut = fit(value, 700)
    kept = json.loads(text)
    assert cut and len(text) <= 700
    assert any(isinstance(x, str) and x.startswith("… truncated (") for node in kept["nodes"] for x in node["xid"]
               if isinstance(node, dict))


def test_text_keeps_its_first_lines_and_logs_their_last() -> None:
    text = "\n".join(f"line {i}" for i in range(1000))
    head, cut = fit(text, 200)
    assert cut and head.startswith("line 0\nline 1\n") and head.endswith("more lines)") and len(head) <= 200
    tail, _ = fit(text, 200, keep_tail=True)
    assert tail.startswith("… truncated (") and "earlier lines)" in tail.splitlines()[0]
    assert tail.endswith("line 998\nline 999") and len(tail) <= 200


def test_one_huge_value_is_cut_by_characters_with_a_marker() -> None:
    text, cut = fit({"blob": "x" * 10_000}, 300)
    assert cut and len(text) <= 300 and text.endswith("more characters)")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.recursive(st.none() | st.integers() | st.text(max_size=20),
                             lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=5), inner,
                                                                                            max_size=5),
                             max_leaves=80)),
       st.integers(min_value=120, max_value=3000))
def test_fitted_json_never_exceeds_the_budget(value: list[object], budget: int) -> None:
    text, cut = fit(value, budget)
    assert len(text) <= budget
    assert cut == (len(dump(value)) > budget)
    if not cut:
        assert json.loads(text) == json.loads(dump(value))


def conversation() -> list[dict[str, object]]:
    big = "r" * 1000
    return [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]},
        {"role": "tool", "tool_call_id": "a", "content": big},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": "new question"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "b"}]},
        {"role": "tool", "tool_call_id": "b", "content": big},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": big},
    ]


def test_a_request_within_the_budget_is_unchanged() -> None:
    messages = conversation()
    assert fit_messages(messages, 100_000, keep_from=5) == messages


def test_old_tool_results_go_first_then_old_turns_then_this_run_oldest_first() -> None:
    messages = conversation()
    total = sum(size(m) for m in messages)
    step1 = fit_messages(messages, total - 500, keep_from=5)
    assert step1[3]["content"] == DROPPED and step1[7]["content"] != DROPPED and len(step1) == 10
    step2 = fit_messages(messages, total - 1000, keep_from=5)
    assert [m["content"] for m in step2[:2]] == ["sys", "new question"] and step2[3]["content"] != DROPPED
    step3 = fit_messages(messages, total - 2500, keep_from=5)
    assert step3[3]["content"] == DROPPED and step3[-1]["content"] != DROPPED
    assert messages == conversation()  # the conversation itself is untouched
