"""Conversations in the dock: saved as they happen, listed, reopened after a restart with their steps, continued,
renamed, deleted after a confirmation; and the dock without a model (setup help, tools run directly)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.ui.chat_controller import NO_MODEL_QUESTION, NO_MODEL_TOOLS
from gpuwatch_desktop.ui.chat_items import MessageBubble, NoticeView, ToolStepView
from gpuwatch_desktop.ui.chat_run import STOPPED
from tests.openai_server import text, tool_calls
from tests.ui.test_chat_support import ChatSide, run, until


def shown(side: ChatSide) -> list[str]:
    """The chat as a list of lines: one per bubble, step and notice."""
    lines = []
    for item in side.dock.view.items():
        if isinstance(item, MessageBubble):
            lines.append(f"{item.role}: {item.text}")
        elif isinstance(item, ToolStepView):
            lines.append(f"step: {item.header_text.rsplit('  ·  ', 1)[0]}")  # without the duration
        elif isinstance(item, NoticeView):
            lines.append(f"{item.level}: {item.plain_text}")
    return lines


def listed(side: ChatSide) -> list[str]:
    combo = side.dock.conversation_combo
    return [combo.itemText(i) for i in range(combo.count())]


async def choose(side: ChatSide, title: str) -> None:
    """Pick a conversation in the list, as a user does."""
    combo = side.dock.conversation_combo
    index = combo.findText(title)
    assert index >= 0, title
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    await until(lambda: side.controller.conversation is not None and side.controller.conversation.title == title)


def test_a_conversation_survives_a_restart_with_its_steps_and_goes_on(qtbot: QtBot, tmp_path: Path) -> None:
    script = [tool_calls(("cluster_status", {}), content="Let me look."), text("All **16 GPUs** are up."),
              text("Still fine.")]

    async def scenario(side: ChatSide) -> ChatSide:
        await side.ask("Is the cluster healthy?")
        before = shown(side)
        assert before == ["user: Is the cluster healthy?", "assistant: Let me look.",
                          "step: ✓ cluster_status  ·  2 nodes (2 up), 16 GPUs, 0 alerts firing",
                          "assistant: All **16 GPUs** are up."]
        side = await side.restarted()
        assert listed(side) == ["New conversation", "Is the cluster healthy?"]
        assert shown(side) == []  # a new start opens a new conversation; the old one is in the list
        await choose(side, "Is the cluster healthy?")
        assert shown(side) == before
        [step] = [w for w in side.dock.view.items() if isinstance(w, ToolStepView)]
        step.header.click()
        assert '"gpus": 16' in step.details.toPlainText()
        await side.ask("And now?")
        assert side.server is not None
        sent = side.server.requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
        assert sent[2]["tool_calls"][0]["function"]["name"] == "cluster_status"
        assert listed(side) == ["Is the cluster healthy?"]  # the same conversation, no new one
        return side

    run(qtbot, tmp_path, scenario, script)


def test_a_stopped_answer_is_shown_again_after_a_restart(qtbot: QtBot, tmp_path: Path) -> None:
    script = [tool_calls(("echo", {"word": "hi"})), text("Half an answer", pieces=2, stall_after=2, stall_s=20)]

    async def scenario(side: ChatSide) -> ChatSide:
        side.send("Start something long")
        await until(lambda: side.dock.view.bubbles("assistant") and side.dock.view.bubbles("assistant")[0].text)
        side.dock.send_button.click()
        await until(lambda: not side.dock.running)
        before = shown(side)
        assert before == ["user: Start something long", "step: ✓ echo  ·  echoed hi", "assistant: Half an",
                          f"info: {STOPPED}"]
        side = await side.restarted()
        await choose(side, "Start something long")
        assert shown(side) == before
        return side

    run(qtbot, tmp_path, scenario, script)


def test_rename_and_delete_after_confirmation(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: ChatSide) -> ChatSide:
        dock = side.dock
        await side.ask("First topic")
        dock.new_button.click()
        await until(lambda: side.controller.conversation is None and dock.view.items() == [])
        assert not dock.rename_button.isEnabled() and not dock.delete_button.isEnabled()
        await side.ask("Second topic")
        assert listed(side) == ["Second topic", "First topic"]
        dock.rename_button.click()
        assert dock.rename_dialog is not None and dock.rename_dialog.textValue() == "Second topic"
        dock.rename_dialog.setTextValue("GPU 3 runs hot")
        dock.rename_dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
        await until(lambda: listed(side) == ["GPU 3 runs hot", "First topic"])
        dock.delete_button.click()
        assert dock.confirm_box is not None and "“GPU 3 runs hot”" in dock.confirm_box.text()
        dock.confirm_box.button(QMessageBox.StandardButton.Cancel).click()
        await until(lambda: dock.confirm_box is None)
        assert listed(side) == ["GPU 3 runs hot", "First topic"]  # cancelled: nothing deleted
        dock.delete_button.click()
        assert dock.confirm_box is not None
        dock.confirm_box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: listed(side) == ["New conversation", "First topic"])
        assert dock.view.items() == [] and side.controller.conversation is None
        side = await side.restarted()
        assert listed(side) == ["New conversation", "First topic"]
        return side

    run(qtbot, tmp_path, scenario, [text("One."), text("Two.")])


def test_without_a_model_the_dock_says_how_to_set_one_up_and_quick_prompts_run_the_tools(
        qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: ChatSide) -> ChatSide:
        dock = side.dock
        assert dock.setup_panel.isVisible() and "Settings → Model" in dock.setup_label.text()
        with qtbot.waitSignal(dock.settingsRequested):
            dock.settings_button.click()
        dock.quick_buttons[0].click()  # "What's wrong with the cluster?"
        await until(lambda: not dock.running)
        assert shown(side) == ["user: What's wrong with the cluster?",
                               "step: ✓ cluster_status  ·  2 nodes (2 up), 16 GPUs, 0 alerts firing",
                               "step: ✓ active_alerts  ·  0 active (0 firing)", f"info: {NO_MODEL_TOOLS}"]
        first = next(w for w in dock.view.items() if isinstance(w, ToolStepView))
        assert first.expanded and first.details.isVisible()  # the tool's own result is the answer here: shown
        assert '"gpus": 16' in first.details.toPlainText()
        await side.ask("Why is node-b slow?")
        assert shown(side)[-2:] == ["user: Why is node-b slow?", f"info: {NO_MODEL_QUESTION}"]
        before = shown(side)
        side = await side.restarted()
        await choose(side, "What's wrong with the cluster?")
        assert shown(side) == before
        return side

    run(qtbot, tmp_path, scenario, script=None)
