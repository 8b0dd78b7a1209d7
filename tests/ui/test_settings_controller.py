"""SettingsController end to end: secrets in an in-memory keyring, settings in a real file, a real dispatcher and
real webhook receivers on loopback, all on a qasync loop."""

from __future__ import annotations

import json
from pathlib import Path

from keyring.backends import fail
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.config.channels import WebhookConfig
from gpuwatch_desktop.config.settings import Settings, save_settings
from gpuwatch_desktop.ui.channel_dialogs import WebhookDialog
from tests.integration.notify_servers import TOKEN_PATH, WebhookReceiver
from tests.ui.test_channels_support import SERVICE, AppSide, add_webhook, fired, run, until
from tests.unit.test_secrets import MemoryKeyring


def test_added_webhook_url_goes_to_the_keyring_not_the_settings_file(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()

    async def scenario(app: AppSide) -> None:
        with WebhookReceiver() as receiver:
            dialog, editor = await app.open()
            assert "kept in the system keyring" in editor.keyring_label.text()
            add_webhook(editor, "ops", receiver.url)
            assert await app.ok(dialog) == "Settings saved."
            assert backend.items[(SERVICE, "webhook:ops")] == receiver.url
            text = app.saved_text()
            for secret_part in (receiver.url, TOKEN_PATH, "t0psecret", "T0KEN"):
                assert secret_part not in text
            assert json.loads(text)["channels"] == [{"type": "webhook", "name": "ops", "style": "alertmanager",
                                                     "timeout_s": 10.0, "enabled": True}]
            assert app.dispatcher is not None and [s.name for s in app.dispatcher.statuses()] == ["ops"]
            _dialog, editor = await app.open()
            assert editor.target_of("ops") == receiver.url.split("/")[2]  # host:port only
            assert editor.status_of("ops") == "not sent yet"
            app.dispatcher.submit([fired()])  # the live status follows the dispatcher
            await until(lambda: editor.status_of("ops").startswith("ok at "))
            assert receiver.posts[0].body["alerts"][0]["labels"]["alertname"] == "GPU too hot"

    run(qtbot, tmp_path, scenario, backend)


def test_edit_with_empty_url_keeps_the_secret_rename_moves_it_remove_deletes_it(qtbot: QtBot, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    url = "https://hooks.example.com/services/T0/B0/s3cr3t"
    backend.set_password(SERVICE, "webhook:ops", url)

    async def scenario(app: AppSide) -> None:
        dialog, editor = await app.open()
        editor.select("ops")
        editor.edit_button.click()
        assert isinstance(editor.dialog, WebhookDialog) and editor.dialog.secret_edit.text() == ""
        editor.dialog.style_combo.setCurrentIndex(editor.dialog.style_combo.findData("slack"))
        editor.dialog.ok_button.click()
        assert await app.ok(dialog) == "Settings saved."
        assert app.settings.channels == (WebhookConfig("ops", "slack"),)
        assert backend.items == {(SERVICE, "webhook:ops"): url}
        dialog, editor = await app.open()
        editor.select("ops")
        editor.edit_button.click()
        assert isinstance(editor.dialog, WebhookDialog)
        editor.dialog.name_edit.setText("oncall")
        editor.dialog.ok_button.click()
        await app.ok(dialog)
        assert backend.items == {(SERVICE, "webhook:oncall"): url}
        dialog, editor = await app.open()
        editor.select("oncall")
        editor.remove_button.click()
        await app.ok(dialog)
        assert backend.items == {}
        assert json.loads(app.saved_text())["channels"] == []
        assert app.dispatcher is not None and app.dispatcher.statuses() == ()

    run(qtbot, tmp_path, scenario, backend, Settings(channels=(WebhookConfig("ops"),)))


def test_without_a_keyring_the_dialog_says_so_and_no_secret_is_written_anywhere(
        qtbot: QtBot, tmp_path: Path) -> None:
    url = "https://hooks.example.com/services/T0/B0/s3cr3t"

    async def scenario(app: AppSide) -> None:
        dialog, editor = await app.open()
        assert editor.keyring_label.text().startswith("No usable system keyring")
        assert "no system keyring found" in editor.keyring_label.text()
        add_webhook(editor, "ops", url)
        message = await app.ok(dialog)
        assert message.startswith("Webhook URLs and SMTP passwords were not saved: no system keyring found")
        assert "Channel “ops” unavailable: cannot read secret 'webhook:ops'" in message
        assert "s3cr3t" not in message
        text = app.saved_text()
        assert "s3cr3t" not in text and "hooks.example.com" not in text
        assert [c["name"] for c in json.loads(text)["channels"]] == ["ops"]
        assert list(tmp_path.iterdir()) == [app.config_path]  # no other file took the secret
        _dialog, editor = await app.open()
        assert editor.status_of("ops").startswith("unavailable: cannot read secret 'webhook:ops'")
        assert editor.target_of("ops") == "keyring unavailable"

    run(qtbot, tmp_path, scenario, fail.Keyring())


def test_channel_without_its_url_in_the_keyring_is_shown_unavailable(qtbot: QtBot, tmp_path: Path) -> None:
    settings = Settings(channels=(WebhookConfig("ops"),))
    save_settings(settings, tmp_path / "settings.json")

    async def scenario(app: AppSide) -> None:
        _dialog, editor = await app.open()
        assert editor.status_of("ops") == ("unavailable: webhook 'ops' has no URL in the keyring; "
                                           "enter it in Settings")
        assert editor.target_of("ops") == "no URL stored"
        editor.select("ops")
        editor.edit_button.click()
        assert isinstance(editor.dialog, WebhookDialog)
        assert editor.dialog.error_text("url") == "a new webhook needs its URL"  # nothing stored to keep

    run(qtbot, tmp_path, scenario, settings=settings)
