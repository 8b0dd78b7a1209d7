"""Settings → Model: the server, model and key of the assistant; the key in the keyring (never the settings file);
Test connection against the loopback OpenAI test server; local servers detected, offered, applied only on a click."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import qasync
from keyring.backends import fail
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.agent.client import detect_local_servers
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import Settings
from gpuwatch_desktop.ui.llm_settings import KEY_KEPT, KEY_NONE, ModelTabController
from gpuwatch_desktop.ui.settings_dialog import SettingsDialog
from tests.openai_server import OpenAIServer
from tests.ui.test_channels_support import SERVICE, AppSide, run, until
from tests.unit.test_secrets import MemoryKeyring

KEY = "sk-live-abcdef0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_key_goes_to_the_keyring_and_the_model_list_comes_from_test_connection(
        qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()

    async def scenario(app: AppSide) -> None:
        with OpenAIServer(models=["qwen3-30b", "llama-3.1-8b"]) as server:
            dialog, _editor = await app.open()
            tab = dialog.model_tab
            assert tab.key_edit.placeholderText() == KEY_NONE and not tab.forget_key_check.isEnabled()
            tab.base_url_edit.setText(server.base_url)
            assert tab.hint_label.text() == "Pick a model: Test connection lists the server's models."
            tab.key_edit.setText(KEY)
            tab.test_button.click()
            await until(lambda: tab.result_label.text().startswith("Connected"))
            assert tab.result_label.text() == "Connected: 2 models: llama-3.1-8b, qwen3-30b."
            assert [tab.model_combo.itemText(i) for i in range(tab.model_combo.count())] == [
                "llama-3.1-8b", "qwen3-30b"]
            tab.model_combo.setCurrentIndex(1)
            tab.timeout_spin.setValue(90)
            tab.steps_spin.setValue(6)
            assert await app.ok(dialog) == "Settings saved."
            assert backend.items[(SERVICE, LLM_API_KEY_SECRET)] == KEY
            assert KEY not in app.saved_text()
            assert json.loads(app.saved_text())["llm"] == {"base_url": server.base_url, "model": "qwen3-30b",
                                                           "timeout_s": 90.0, "max_steps": 6, "temperature": 0.2}
            assert app.settings.llm.configured
            dialog, _editor = await app.open()  # the stored key is kept unless a new one is typed
            tab = dialog.model_tab
            assert tab.key_edit.text() == "" and tab.key_edit.placeholderText() == KEY_KEPT
            tab.test_button.click()  # with the stored key
            await until(lambda: tab.result_label.text().startswith("Connected"))
            assert await app.ok(dialog) == "Settings saved."
            assert backend.items[(SERVICE, LLM_API_KEY_SECRET)] == KEY
            dialog, _editor = await app.open()
            dialog.model_tab.forget_key_check.setChecked(True)
            await app.ok(dialog)
            assert (SERVICE, LLM_API_KEY_SECRET) not in backend.items

    run(qtbot, tmp_path, scenario, backend)


def test_an_invalid_url_is_shown_as_typed_and_blocks_ok(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(llm=LlmConfig(base_url="http://head:8000/v1", model="m")))
    qtbot.addWidget(dialog)
    tab = dialog.model_tab
    assert tab.url_error.isHidden()
    tab.base_url_edit.setText("head-pod:8000")
    assert not tab.url_error.isHidden() and "is not an http(s) URL" in tab.url_error.text()
    dialog._on_ok_clicked()
    assert dialog.result_settings is None and "is not an http(s) URL" in dialog.error_label.text()
    tab.base_url_edit.setText("")
    assert tab.url_error.isHidden()
    assert tab.hint_label.text() == "Enter the server URL too, or use Detect local servers."
    dialog._on_ok_clicked()  # no server at all is allowed: the assistant is just not set up
    assert dialog.result_settings is not None and not dialog.result_settings.llm.configured


def run_tab(qtbot: QtBot, scenario: Callable[[SettingsDialog], Coroutine[Any, Any, None]],
            detect: Callable[[], Coroutine[Any, Any, list[tuple[str, str, list[str]]]]] | None = None,
            secrets: SecretStore | None = None) -> None:
    """The Model tab and its controller on a qasync loop, with ``detect`` probing the given servers."""
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    controller = ModelTabController(dialog.model_tab, secrets or SecretStore(SERVICE, MemoryKeyring()),
                                    detect=detect or partial(detect_local_servers, 0.5, []))

    async def main() -> None:
        await controller.show_key_state()
        await scenario(dialog)

    with qasync.QEventLoop(QApplication.instance()) as loop:
        loop.run_until_complete(main())


def test_detected_servers_are_offered_and_applied_only_on_use(qtbot: QtBot) -> None:
    with OpenAIServer(models=["served-model"]) as server:
        candidates = [("vLLM", server.base_url), ("Ollama", f"http://127.0.0.1:{free_port()}/v1")]

        async def scenario(dialog: SettingsDialog) -> None:
            tab = dialog.model_tab
            tab.detect_button.click()
            await until(lambda: tab.detected_list.count() == 1)
            assert tab.detected_list.item(0).text() == f"vLLM at {server.base_url} — 1 model"
            assert tab.base_url_edit.text() == "" and tab.model_combo.currentText() == ""  # offered, not applied
            tab.use_button.click()
            assert tab.base_url_edit.text() == server.base_url and tab.model_combo.currentText() == "served-model"
            assert dialog.edited_settings().llm.configured

        run_tab(qtbot, scenario, partial(detect_local_servers, 0.5, candidates))


def test_nothing_detected_and_a_server_that_is_not_there_say_so(qtbot: QtBot) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"

    async def scenario(dialog: SettingsDialog) -> None:
        tab = dialog.model_tab
        tab.test_button.click()
        await until(lambda: tab.result_label.text())
        assert tab.result_label.text() == "Not tested: enter the server URL first, or use Detect local servers"
        tab.detect_button.click()
        await until(lambda: tab.result_label.text().startswith("No local server answered"))
        assert tab.detected_list.isHidden() and tab.use_button.isHidden()
        tab.base_url_edit.setText(url)
        tab.timeout_spin.setValue(2)
        tab.test_button.click()
        await until(lambda: tab.test_button.isEnabled() and tab.result_label.text().startswith("Cannot reach"))
        assert tab.result_label.text().startswith(f"Cannot reach the model server at {url}")

    run_tab(qtbot, scenario, partial(detect_local_servers, 0.3, [("vLLM", url)]))


def test_without_a_keyring_the_key_is_not_saved_anywhere_and_the_tab_says_why(
        qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(app: AppSide) -> None:
        dialog, _editor = await app.open()
        tab = dialog.model_tab
        assert tab.keyring_label.text().startswith("No usable system keyring: a key cannot be saved")
        tab.base_url_edit.setText("https://api.example.com/v1")
        tab.model_combo.setEditText("gpt-x")
        tab.key_edit.setText(KEY)
        message = await app.ok(dialog)
        assert message.startswith("The model API key was not saved: no system keyring found")
        assert KEY not in app.saved_text() and app.settings.llm.model == "gpt-x"
        assert list(tmp_path.iterdir()) == [app.config_path]

    run(qtbot, tmp_path, scenario, fail.Keyring())
