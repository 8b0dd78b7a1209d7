"""The chat dock end to end: the real agent through the real openai client against the loopback OpenAI test
server; answers stream, tool steps show, Stop cancels at once, failures are shown and the chat goes on."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.ui.chat_items import ToolStepView
from gpuwatch_desktop.ui.chat_run import STOPPED
from gpuwatch_desktop.ui.chat_view import RENDER_INTERVAL_MS
from tests.openai_server import empty, error, text, tool_calls
from tests.ui.test_chat_support import API_KEY, ChatSide, run, until

ANSWER = """**GPU 3 on node-b runs hot** (the others are fine).

| GPU | Temp |
|---|---:|
| node-b / 3 | 89 °C |

```bash
nvidia-smi -i 3 -q -d TEMPERATURE
```"""


def steps(side: ChatSide) -> list[ToolStepView]:
    return [w for w in side.dock.view.items() if isinstance(w, ToolStepView)]


def test_an_answer_streams_its_tool_steps_show_and_the_key_comes_from_the_keyring(qtbot: QtBot, tmp_path: Path) -> None:
    script = [tool_calls(("cluster_status", {}), ("gpu_metrics", {"node": "node-b", "gpu": 3})),
              text(ANSWER, pieces=6, stall_after=4, stall_s=0.6)]  # half the answer, a pause, the rest

    async def scenario(side: ChatSide) -> None:
        side.send("Why is node-b slow?")
        await until(lambda: side.dock.view.bubbles("assistant"))
        partial = side.dock.view.bubbles("assistant")[0]
        await until(lambda: partial.text)
        assert side.dock.running and ANSWER.startswith(partial.text) and partial.text != ANSWER  # shown, streaming
        await until(lambda: not side.dock.running)
        [answer] = side.dock.view.bubbles("assistant")
        assert answer.text == ANSWER
        assert answer.browser is not None and "<table" in answer.browser.toHtml()
        first, second = steps(side)
        assert first.header_text.startswith("✓ cluster_status  ·  2 nodes (2 up), 16 GPUs, 0 alerts firing  ·  ")
        assert first.header_text.endswith(" ms") and not first.expanded
        assert second.header_text.startswith("✓ gpu_metrics  ·  ")
        second.header.click()
        assert second.expanded and '"node": "node-b"' in second.details.toPlainText()
        assert '"gpu": 3' in second.details.toPlainText()
        assert side.server is not None
        assert side.server.recorded[0].headers["authorization"] == f"Bearer {API_KEY}"
        tool_results = [m for m in side.server.requests[1]["messages"] if m["role"] == "tool"]
        assert json.loads(tool_results[0]["content"])["gpus"] == 16
        assert [c.title for c in (await side.worker.run(lambda s: _titles(s)))] == ["Why is node-b slow?"]
        assert side.dock.conversation_combo.currentText() == "Why is node-b slow?"

    run(qtbot, tmp_path, scenario, [*script])


def _titles(store: object) -> list[object]:
    from gpuwatch_desktop.storage import ConversationStore, HistoryStore

    assert isinstance(store, HistoryStore)
    return list(ConversationStore(store.database).conversations())


def test_streaming_renders_at_most_once_per_interval(qtbot: QtBot, tmp_path: Path) -> None:
    long_answer = " ".join(f"word{i}" for i in range(400))

    async def scenario(side: ChatSide) -> None:
        started = time.monotonic()
        await side.ask("Tell me everything.")
        elapsed_ms = (time.monotonic() - started) * 1000
        assert side.dock.view.bubbles("assistant")[0].text == long_answer
        assert 1 <= side.dock.view.renders <= elapsed_ms / RENDER_INTERVAL_MS + 2  # not once per piece (200)

    run(qtbot, tmp_path, scenario, [text(long_answer, pieces=200)])


def test_stop_cancels_the_request_at_once_and_the_conversation_goes_on(qtbot: QtBot, tmp_path: Path) -> None:
    script = [text("The first half of an answer that never ends", pieces=4, stall_after=3, stall_s=20),
              tool_calls(("hang", {})), text("Second answer.")]

    async def scenario(side: ChatSide) -> None:
        assert side.server is not None
        side.send("First question")
        await until(lambda: side.dock.view.bubbles("assistant") and side.dock.view.bubbles("assistant")[0].text)
        side.dock.send_button.click()  # it reads "Stop" while the answer runs
        await until(lambda: not side.dock.running, timeout=1.0)
        await until(lambda: side.server is not None and side.server.recorded[0].disconnected, timeout=2.0)
        assert side.dock.view.notices()[-1].plain_text == STOPPED
        side.send("Second question")  # this one calls a tool that never finishes
        await until(lambda: steps(side))
        side.dock.send_button.click()
        await until(lambda: not side.dock.running, timeout=1.0)
        assert side.recorder.hang_cancelled_at is not None  # the running tool was cancelled too
        assert steps(side)[0].header_text == "■ hang  ·  stopped before it finished"
        await side.ask("Third question")
        assert side.dock.view.bubbles("assistant")[-1].text == "Second answer."
        sent = side.server.requests[-1]["messages"]
        assert [(m["role"], m["content"]) for m in sent[1:]] == [
            ("user", "First question"), ("user", "Second question"), ("user", "Third question")]
        return await side.restarted()

    run(qtbot, tmp_path, scenario, script)


def test_a_server_failure_is_shown_with_what_to_do_and_the_chat_goes_on(qtbot: QtBot, tmp_path: Path) -> None:
    script = [error(500, "CUDA out of memory"), empty(), text("Recovered.")]

    async def scenario(side: ChatSide) -> None:
        await side.ask("First")
        notice = side.dock.view.notices()[-1]
        assert notice.level == "error"
        assert notice.plain_text.startswith("The model server failed. The model server failed (HTTP 500: CUDA out")
        assert "check the server's log" in notice.plain_text
        await side.ask("Second")
        assert side.dock.view.notices()[-1].plain_text.startswith("No answer. The model returned an empty answer.")
        await side.ask("Third")
        assert side.dock.view.bubbles("assistant")[-1].text == "Recovered."
        assert side.dock.status_label.text() == ""

    run(qtbot, tmp_path, scenario, script)


def test_a_step_limit_answer_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    script = [tool_calls(("echo", {"word": str(i)})) for i in range(9)] + [text("Forced answer.")]

    async def scenario(side: ChatSide) -> None:
        await side.ask("Loop forever")
        assert side.dock.view.bubbles("assistant")[-1].text == "Forced answer."
        assert len(steps(side)) == 9
        assert side.dock.view.notices()[-1].plain_text.startswith("The step limit (10 steps) was reached")

    run(qtbot, tmp_path, scenario, script)


def test_enter_sends_shift_enter_adds_a_line_and_copy_copies_the_markdown(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: ChatSide) -> None:
        box = side.dock.input
        box.setFocus()
        qtbot.keyClicks(box, "Two")
        qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(box, "lines")
        assert box.toPlainText() == "Two\nlines" and not side.dock.running
        qtbot.keyClick(box, Qt.Key.Key_Return)
        assert side.dock.running and box.toPlainText() == ""
        qtbot.keyClicks(box, "next")
        qtbot.keyClick(box, Qt.Key.Key_Return)  # while the answer runs, Enter neither sends nor stops
        assert side.dock.running and box.toPlainText() == "next"
        await until(lambda: not side.dock.running)
        assert side.dock.view.notices() == []
        assert side.dock.view.bubbles("user")[0].text == "Two\nlines"
        answer = side.dock.view.bubbles("assistant")[0]
        assert answer.copy_button is not None
        answer.copy_button.click()
        assert QGuiApplication.clipboard().text() == ANSWER

    run(qtbot, tmp_path, scenario, [text(ANSWER, pieces=4, stall_after=2, stall_s=0.3)])


def test_a_conversation_that_cannot_be_saved_says_so_and_the_answer_still_shows(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: ChatSide) -> None:
        await side.worker.run(lambda s: s.database.execute_sql("DROP TABLE conversation_message"))
        await side.ask("Is it saved?")
        assert side.dock.view.bubbles("assistant")[0].text == "Shown anyway."
        assert side.dock.status_label.text().startswith("Conversation not saved: creating a conversation failed")
        assert "no such table: conversation_message" in side.dock.status_label.text()

    run(qtbot, tmp_path, scenario, [text("Shown anyway.")])
