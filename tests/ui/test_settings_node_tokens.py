"""A node's access token typed in Settings → Nodes goes to the keyring only, and can be removed again."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.settings import NodeConfig, Settings
from tests.ui.test_channels_support import SERVICE, AppSide, run
from tests.unit.test_secrets import MemoryKeyring

POD = NodeConfig("pod-a", "https://abc-9400.proxy.runpod.net/metrics", "https://abc-8002.proxy.runpod.net")


def test_token_is_saved_to_the_keyring_shown_as_stored_then_removed(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()

    async def scenario(app: AppSide) -> None:
        dialog, _ = await app.open()
        dialog.tabs.setCurrentIndex(1)
        dialog.nodes_table.setCurrentCell(0, 0)
        assert dialog.token_label.text() == "Access token of pod-a: none (the node's services are open)"
        dialog.set_token(0, "  s3cret-token ")
        assert dialog.token_label.text().endswith("will be saved on OK")
        assert await app.ok(dialog) == "Settings saved."
        assert backend.items[(SERVICE, "node-token:pod-a")] == "s3cret-token"
        assert "s3cret" not in app.saved_text()

        dialog, _ = await app.open()
        dialog.nodes_table.setCurrentCell(0, 1)
        assert dialog.token_label.text() == "Access token of pod-a: stored in the keyring"
        dialog.set_token(0, "")
        assert dialog.token_label.text().endswith("will be removed on OK")
        assert await app.ok(dialog) == "Settings saved."
        assert (SERVICE, "node-token:pod-a") not in backend.items

    run(qtbot, tmp_path, scenario, backend, Settings(nodes=(POD,)))


def test_a_token_follows_its_row_when_the_node_is_renamed_before_ok(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()

    async def scenario(app: AppSide) -> None:
        dialog, _ = await app.open()
        dialog.set_token(0, "tok")
        item = dialog.nodes_table.item(0, 0)
        assert item is not None
        item.setText("head")
        assert await app.ok(dialog) == "Settings saved."
        assert backend.items == {(SERVICE, "node-token:head"): "tok"}

    run(qtbot, tmp_path, scenario, backend, Settings(nodes=(POD,)))
