"""The RunPod tab end to end: a loopback server that answers like RunPod's API, the key in an in-memory keyring,
"Watch this pod" saved through the real SettingsController into a real settings file, on a qasync loop."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import qasync
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.config.settings import NodeConfig, Settings
from gpuwatch_desktop.services.runpod_account import RunPodAccount
from gpuwatch_desktop.ui.pod_dialogs import accept_button
from gpuwatch_desktop.ui.runpod_controller import RunPodController
from gpuwatch_desktop.ui.runpod_view import POD_HEADERS, RunPodView, format_uptime
from gpuwatch_desktop.ui.settings_controller import SettingsController
from tests.runpod_server import RunPodServer, pod
from tests.ui.test_channels_support import SERVICE, until
from tests.unit.test_secrets import MemoryKeyring

KEY = "rp-ui-test-key-42"
SECRET = (SERVICE, "runpod-api-key")


class Side:
    """What app.py builds around the RunPod tab."""

    def __init__(self, tmp_path: Path, url: str, backend: KeyringBackend) -> None:
        self.settings = Settings()
        self.config_path = tmp_path / "settings.json"
        secrets = SecretStore(SERVICE, backend)
        self.window = QMainWindow()
        self.settings_ui = SettingsController(
            lambda: self.settings, self.config_path, secrets, apply_settings=self._apply,
            restart_notifications=self._restart, dispatcher=lambda: None, window=lambda: self.window)
        self.view = RunPodView()
        self.window.setCentralWidget(self.view)
        self.account = RunPodAccount(secrets, url=url, interval_s=0.3, timeout_s=5)
        self.controller = RunPodController(self.account, self.view, lambda: self.settings, self.settings_ui.save)

    async def _apply(self, settings: Settings) -> None:
        self.settings = settings

    async def _restart(self, channels: object) -> dict[str, str]:
        return {}

    async def idle(self) -> None:
        await until(lambda: not self.controller.busy)

    def select(self, name: str) -> None:
        self.view.select_pod(next(p.id for p in self.view.pods if p.name == name))

    def cell(self, name: str, header: str) -> str:
        proxy = self.view.table.model()
        for row in range(proxy.rowCount()):
            if proxy.index(row, 0).data() == name:
                return str(proxy.index(row, POD_HEADERS.index(header)).data())
        raise AssertionError(f"no row {name}")

    async def answer(self, yes: bool) -> str:
        """Answer the open confirmation; its text."""
        box = self.view.confirmation
        assert box is not None and box.isVisible()
        text = box.text()
        button = accept_button(box) if yes else box.button(QMessageBox.StandardButton.Cancel)
        button.click()  # type: ignore[attr-defined]
        await self.idle()
        return text


def run(qtbot: QtBot, tmp_path: Path, server: RunPodServer, scenario: Callable[[Side], Coroutine[Any, Any, None]],
        backend: KeyringBackend | None = None) -> None:
    loop = qasync.QEventLoop(QApplication.instance())
    side = Side(tmp_path, server.url, backend if backend is not None else MemoryKeyring())

    async def main(side: Side) -> None:
        try:
            side.window.show()
            await scenario(side)
        finally:
            await side.controller.aclose()
            await side.settings_ui.aclose()

    try:
        with loop:
            loop.run_until_complete(main(side))
    finally:
        side.window.close()
        del side
        gc.collect()


def two_pods() -> list[dict[str, Any]]:
    return [pod("abc123", "trainer", gpu="NVIDIA H100 80GB HBM3", count=2, cost=5.98, uptime=7260,
                util=(90.0, 70.0), mem=(60.0, 40.0)),
            pod("def456", "notebook", gpu="NVIDIA RTX A6000", cost=0.49, running=False)]


def test_without_a_key_it_says_where_to_make_one_and_calls_nobody(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: Side) -> None:
        await until(lambda: side.view.banner.isVisible())
        assert "No RunPod API key yet" in side.view.banner.text()
        assert "runpod.io/console/user/settings" in side.view.key_help.text()
        assert side.view.model.rowCount() == 0
        assert not side.view.forget_key_button.isEnabled()

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario)
        assert server.recorded == []


def test_a_refused_key_is_not_stored_a_good_one_lists_the_pods(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()

    async def scenario(side: Side) -> None:
        side.view.key_edit.setText("rp-wrong")
        side.view.save_key_button.click()
        await side.idle()
        assert "did not accept the API key (HTTP 401)" in side.view.banner.text()
        assert backend.items == {}
        side.view.key_edit.setText(KEY)
        side.view.save_key_button.click()
        await side.idle()
        assert backend.items == {SECRET: KEY}
        assert side.view.key_edit.text() == ""
        assert side.view.banner.isHidden()
        assert side.view.cost_label.text() == "1 of 2 pods running · $5.98/h"
        assert side.cell("trainer", "Status") == "running"
        assert side.cell("trainer", "GPUs") == "2 × NVIDIA H100 80GB HBM3"
        assert (side.cell("trainer", "$/h"), side.cell("trainer", "Uptime")) == ("$5.98", "2 h 01 min")
        assert (side.cell("trainer", "GPU util %"), side.cell("trainer", "GPU mem %")) == ("80", "50")
        assert (side.cell("notebook", "Status"), side.cell("notebook", "GPU util %")) == ("stopped", "—")
        assert side.view.forget_key_button.isEnabled()
        side.view.forget_key_button.click()
        await side.idle()
        assert backend.items == {}
        assert "No RunPod API key yet" in side.view.banner.text() and side.view.model.rowCount() == 0

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)
    assert not (tmp_path / "settings.json").exists()  # the key went nowhere else


def test_polls_while_visible_and_stops_when_hidden(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        assert side.controller.polling
        server.set_pods([*two_pods(), pod("ghi789", "eval", cost=0.86)])
        await until(lambda: side.view.model.rowCount() == 3)  # the next poll, no click
        assert side.view.cost_label.text() == "2 of 3 pods running · $6.84/h"
        side.view.hide()
        assert not side.controller.polling
        side.view.show()
        assert side.controller.polling

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_stop_asks_naming_the_pod_and_its_cost_and_cancel_sends_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        side.select("notebook")
        assert side.view.start_button.isEnabled() and not side.view.stop_button.isEnabled()
        side.select("trainer")
        assert side.view.stop_button.isEnabled() and not side.view.start_button.isEnabled()
        side.view.stop_button.click()
        text = await side.answer(yes=False)
        assert "Stop pod “trainer” (abc123)? It costs $5.98/h now." in text
        assert server.pod("abc123")["desiredStatus"] == "RUNNING"
        side.view.stop_button.click()
        await side.answer(yes=True)
        assert server.pod("abc123")["desiredStatus"] == "EXITED"
        assert side.cell("trainer", "Status") == "stopped"
        assert side.view.cost_label.text() == "0 of 2 pods running · $0.00/h"

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_start_that_runpod_refuses_shows_why(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        side.select("notebook")
        side.view.start_button.click()
        server.error_next("There are not enough free GPUs on the host machine to start this pod.")
        text = await side.answer(yes=True)
        assert "Start pod “notebook” (def456) with 1 × NVIDIA RTX A6000?" in text and "$0.49/h" in text
        assert side.view.banner.text() == ("notebook was not started: RunPod refused: There are not enough free "
                                           "GPUs on the host machine to start this pod.")

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_rate_limit_keeps_the_pods_marked_stale_and_waits_as_asked(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        server.fail_next(429, b"slow down", {"Retry-After": "30"})
        side.view.refresh_button.click()
        await side.idle()
        assert "rate limiting this key (HTTP 429); trying again in 30 s" in side.view.banner.text()
        assert side.view.model.rowCount() == 2 and side.view.updated_label.text().endswith("(stale)")
        assert side.account.next_delay() == 30.0

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_watch_this_pod_saves_a_node_and_its_token_in_the_keyring(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        side.select("trainer")
        side.view.watch_button.click()
        dialog = side.view.watch_dialog
        assert dialog is not None and dialog.isVisible()
        assert dialog.metrics_label.text() == "https://abc123-9400.proxy.runpod.net/metrics"
        assert dialog.warning_label.isHidden()  # the pod exposes 9400 over HTTP
        dialog.token_edit.setText("pod-token-xyz")
        dialog.accept()
        await side.idle()
        assert side.settings.nodes == (NodeConfig("trainer", "https://abc123-9400.proxy.runpod.net/metrics",
                                                  logs_url="https://abc123-8002.proxy.runpod.net"),)
        assert backend.items[(SERVICE, "node-token:trainer")] == "pod-token-xyz"
        saved = (tmp_path / "settings.json").read_text()
        assert json.loads(saved)["nodes"][0]["name"] == "trainer" and "pod-token-xyz" not in saved
        assert "Watching trainer" in side.view.message_label.text()
        side.view.watch_button.click()
        assert side.view.watch_dialog is not None
        side.view.watch_dialog.accept()
        await side.idle()
        assert side.view.banner.text() == "Not added: pod trainer is already watched as node 'trainer'"
        assert len(side.settings.nodes) == 1

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_the_table_sorts_by_cost_and_copies_with_headers(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(*SECRET, KEY)

    async def scenario(side: Side) -> None:
        await until(lambda: side.view.model.rowCount() == 2)
        side.view.table.sortByColumn(POD_HEADERS.index("$/h"), Qt.SortOrder.AscendingOrder)
        proxy = side.view.table.model()
        assert [proxy.index(r, 0).data() for r in range(2)] == ["notebook", "trainer"]
        side.view.table.sortByColumn(POD_HEADERS.index("GPU util %"), Qt.SortOrder.DescendingOrder)
        assert [proxy.index(r, 0).data() for r in range(2)] == ["trainer", "notebook"]
        lines = side.view.table.selected_text().splitlines()
        assert lines[0] == "\t".join(POD_HEADERS)
        assert lines[1].startswith("trainer\trunning\t2 × NVIDIA H100 80GB HBM3\t$5.98")

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, backend)


def test_uptime_reads_in_words() -> None:
    assert [format_uptime(s) for s in (None, 59, 600, 7260, 93600)] == ["—", "0 min", "10 min", "2 h 01 min",
                                                                         "1 d 2 h"]


def test_without_a_keyring_the_key_is_used_for_the_session_and_saved_nowhere(qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario(side: Side) -> None:
        await until(lambda: side.view.banner.isVisible())
        assert side.view.banner.text().startswith("Cannot read the RunPod API key: ")
        assert "no system keyring found" in side.view.banner.text()
        side.view.key_edit.setText(KEY)
        side.view.save_key_button.click()
        await side.idle()
        assert side.view.message_label.text().startswith("The key is used until you quit but was not saved: ")
        assert side.view.model.rowCount() == 2 and side.view.banner.isHidden()

    with RunPodServer(KEY, two_pods()) as server:
        run(qtbot, tmp_path, server, scenario, fail.Keyring())
    assert list(tmp_path.iterdir()) == []
