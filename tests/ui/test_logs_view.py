"""The Logs tab over a real pod log server on loopback, on a qasync loop: follow, search, pause, badge, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.secrets import SecretStore, node_token_secret_name
from gpuwatch_desktop.config.settings import NodeConfig
from gpuwatch_desktop.services.logs_service import LogsService
from gpuwatch_desktop.ui.logs_controller import LogsController
from gpuwatch_desktop.ui.logs_view import LogsView, display_line
from gpuwatch_desktop.ui.theme import DARK
from gpuwatch_pod.logserver import LogServer
from tests.unit.test_secrets import MemoryKeyring

TOKEN = "pod-token"
LOADING = [
    "(APIServer pid=1) INFO 06-02 09:14:07 [api_server.py:1839] vLLM API server version 0.11.0",
    "(EngineCore_DP0 pid=212) INFO 06-02 09:14:26 [gpu_model_runner.py:2602] Starting to load model Qwen...",
    "Loading safetensors checkpoint shards:  40% Completed | 2/5 [00:04<00:06,  2.18s/it]",
]
READY = [
    "Loading safetensors checkpoint shards: 100% Completed | 5/5 [00:10<00:00,  2.04s/it]",
    "(APIServer pid=1) INFO 06-02 09:15:03 [launcher.py:34] Available routes are:",
    "(APIServer pid=1) INFO:     Application startup complete.",
]


def append(path: Path, *lines: str) -> None:
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    files = {"vllm": tmp_path / "vllm.log", "slurmd": tmp_path / "slurmd.log"}
    append(files["vllm"], *LOADING)
    append(files["slurmd"], "slurmd: started", "slurmd: registered with slurmctld")
    return files


@pytest.fixture
def server(files: dict[str, Path]) -> Iterator[LogServer]:
    srv = LogServer(files, port=0, token=TOKEN).start()
    yield srv
    srv.close()


async def until(test: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Let the loop run until ``test()`` holds (the view updates from loopback I/O and timers)."""
    deadline = time.monotonic() + timeout_s
    while not test():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


Scenario = Callable[[LogsView, LogsService, LogsController], Coroutine[Any, Any, None]]


def run_view(qtbot: QtBot, nodes: list[NodeConfig], scenario: Scenario, tokens: dict[str, str] | None = None) -> None:
    secrets = SecretStore("gpuwatch-test", MemoryKeyring())
    for node, token in (tokens if tokens is not None else {"pod-1": TOKEN}).items():
        secrets.set(node_token_secret_name(node), token)
    view = LogsView(DARK)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    loop = qasync.QEventLoop(QApplication.instance())

    async def go() -> None:
        service = LogsService(secrets)
        controller = LogsController(service, view)
        try:
            await service.set_nodes(nodes)
            await scenario(view, service, controller)
        finally:
            await controller.aclose()
            await service.aclose()

    with loop:
        loop.run_until_complete(go())


def pod(server: LogServer) -> list[NodeConfig]:
    return [NodeConfig("pod-1", "http://127.0.0.1:1/metrics", server.url)]


def shown(view: LogsView) -> list[str]:
    return view.text.toPlainText().splitlines()


def test_follow_shows_appended_lines_and_the_badge_goes_from_loading_to_ready(
    qtbot: QtBot, server: LogServer, files: dict[str, Path]
) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        assert view.stack.currentIndex() == 1 and view.selected() == ("pod-1", "vllm")
        await until(lambda: shown(view) == LOADING, "the backlog")
        await until(lambda: "Model loading… 40 %" in view.badge.text(), "the loading badge")
        assert view.badge.text() == "vLLM on pod-1: Model loading… 40 %"
        await until(lambda: view.status_label.text() == "Following vllm on pod-1", "following")
        append(files["vllm"], *READY)
        await until(lambda: shown(view) == LOADING + READY, "the appended lines")
        await until(lambda: view.badge.text() == "vLLM on pod-1: Ready", "the ready badge")
        view.log_combo.setCurrentText("slurmd")
        await until(lambda: shown(view) == ["slurmd: started", "slurmd: registered with slurmctld"], "slurmd")
        assert controller.following == ("pod-1", "slurmd")
        assert view.badge.text() == "vLLM on pod-1: Ready", "the badge stays on the node's vLLM"

    run_view(qtbot, pod(server), scenario)


def test_search_highlights_every_match_and_steps_through_them(
    qtbot: QtBot, server: LogServer, files: dict[str, Path]
) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        await until(lambda: len(shown(view)) == 3, "the backlog")
        qtbot.keyClicks(view.search_box, "PID=")
        await until(lambda: view.match_label.text() == "1 / 2", "two matches")  # case-insensitive
        assert len(view.text.extraSelections()) == 2
        assert view.text.textCursor().selectedText() == "pid="
        first = view.text.textCursor().selectionStart()
        qtbot.keyClick(view.search_box, Qt.Key.Key_Return)
        assert view.match_label.text() == "2 / 2" and view.text.textCursor().selectionStart() > first
        view.next_button.click()
        assert view.match_label.text() == "1 / 2", "wraps around"
        view.previous_button.click()
        assert view.match_label.text() == "2 / 2"
        append(files["vllm"], "(EngineCore_DP0 pid=212) INFO 06-02 09:14:38 [default_loader.py:267] Loading weights")
        await until(lambda: view.match_label.text() == "2 / 3", "a new match counted, the current one kept")
        view.search_box.setText("no such text")
        await until(lambda: view.match_label.text() == "no match", "no match")
        assert view.text.extraSelections() == []
        view.search_box.clear()
        await until(lambda: view.match_label.text() == "", "search cleared")

    run_view(qtbot, pod(server), scenario)


def test_scrolling_up_stops_following_the_end_and_pause_holds_lines(
    qtbot: QtBot, server: LogServer, files: dict[str, Path]
) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        append(files["vllm"], *(f"filler {i}" for i in range(300)))
        await until(lambda: len(shown(view)) == 303, "a screenful and more")
        bar = view.text.verticalScrollBar()
        await until(lambda: bar.value() == bar.maximum() > 0, "scrolled to the end")
        assert not view.jump_button.isVisible()
        bar.setValue(10)
        assert view.jump_button.isVisible()
        append(files["vllm"], "while scrolled up")
        await until(lambda: shown(view)[-1] == "while scrolled up", "the line")
        assert bar.value() == 10, "the view stays where the user put it"
        view.jump_button.click()
        assert bar.value() == bar.maximum() and not view.jump_button.isVisible()
        view.pause_button.click()
        append(files["vllm"], "held 1", "held 2")
        await until(lambda: view.pause_button.text() == "Resume (2 new)", "held lines counted")
        assert shown(view)[-1] == "while scrolled up"
        view.pause_button.click()
        assert shown(view)[-2:] == ["held 1", "held 2"] and view.pause_button.text() == "Pause"
        assert bar.value() == bar.maximum()
        view.text.selectAll()
        view.copy_button.click()
        assert QGuiApplication.clipboard().text().splitlines()[-1] == "held 2"

    run_view(qtbot, pod(server), scenario)


def test_a_missing_token_is_explained(qtbot: QtBot, server: LogServer) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        await until(lambda: view.error_label.isVisible(), "the error")
        assert view.error_label.text() == (
            "401: the node's log server needs an access token — set it in Settings → Nodes")
        assert view.badge.text() == "vLLM: unknown", "its log cannot be read"
        assert view.badge.toolTip() == (
            "pod-1: 401: the node's log server needs an access token — set it in Settings → Nodes")

    run_view(qtbot, pod(server), scenario, tokens={})


def test_a_server_that_goes_away_is_retried_and_said_so(qtbot: QtBot, server: LogServer) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        await until(lambda: shown(view) == LOADING, "the backlog")
        await asyncio.to_thread(server.close)
        await until(lambda: view.status_label.text().startswith("Reconnecting to pod-1 in"), "reconnecting")
        await until(lambda: "(last known)" in view.badge.text(), "the badge marked as last known")
        assert shown(view) == LOADING, "what was shown stays"

    run_view(qtbot, pod(server), scenario)


def test_no_node_with_a_log_server_shows_the_empty_page(qtbot: QtBot) -> None:
    async def scenario(view: LogsView, service: LogsService, controller: LogsController) -> None:
        assert view.stack.currentIndex() == 0 and "Log server URL" in view.empty_label.text()
        assert view.badge.text() == "vLLM: Not running"
        with qtbot.waitSignal(view.settingsRequested) as requested:
            view.stack.currentWidget().findChild(type(view.copy_button)).click()
        assert requested.args == ["Nodes"]

    run_view(qtbot, [NodeConfig("gpu-only", "http://127.0.0.1:1/metrics")], scenario)


def test_display_line_shows_what_a_terminal_would() -> None:
    assert display_line("a 10%\rb 50%\rc 90%") == "c 90%"
    assert display_line("\x1b[32mINFO\x1b[0m: ok") == "INFO: ok"
    assert display_line("plain") == "plain"
