"""Send test and the live status column: real webhook receivers and refused ports on loopback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.alerts.notify.dispatcher import ChannelStatus
from gpuwatch_desktop.config.channels import WebhookConfig
from gpuwatch_desktop.config.settings import Settings
from gpuwatch_desktop.ui.channel_dialogs import EmailDialog
from gpuwatch_desktop.ui.channels_editor import ChannelsEditor
from tests.integration.notify_servers import TOKEN_PATH, WebhookReceiver, free_port, smtp_server
from tests.ui.test_channels_support import SERVICE, AppSide, add_webhook, fired, run, until
from tests.unit.test_secrets import MemoryKeyring

OPS = Settings(channels=(WebhookConfig("ops"),))


def keyring_with(url: str) -> MemoryKeyring:
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "webhook:ops", url)
    return backend


async def send_test(editor: ChannelsEditor, name: str) -> str:
    editor.select(name)
    editor.test_button.click()
    await until(lambda: not editor.status_of(name).startswith("sending"))
    return editor.status_of(name)


def test_send_test_through_the_running_channel_says_ok(qtbot: QtBot, tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:

        async def scenario(app: AppSide) -> None:
            _dialog, editor = await app.open()
            assert editor.target_of("ops") == f"127.0.0.1:{receiver.server.server_address[1]}"
            status = await send_test(editor, "ops")
            assert status.startswith("test ok at "), status
            assert editor.message_label.text().startswith("Test sent through “ops” at ")
            assert len(receiver.posts) == 1
            assert receiver.posts[0].path.startswith(TOKEN_PATH)
            assert receiver.posts[0].body["alerts"][0]["labels"]["alertname"] == "Test notification"

        run(qtbot, tmp_path, scenario, keyring_with(receiver.url), OPS)


def test_send_test_of_an_unsaved_webhook_to_a_refused_port_shows_the_host_only(qtbot: QtBot, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}{TOKEN_PATH}?key=t0psecret"

    async def scenario(app: AppSide) -> None:
        _dialog, editor = await app.open()
        add_webhook(editor, "new-hook", url)
        status = await send_test(editor, "new-hook")
        assert status.startswith(f"test failed: cannot post to 127.0.0.1:{port}"), status
        shown = status + editor.message_label.text() + editor.table.item(0, 4).toolTip()
        for secret_part in (TOKEN_PATH, "t0psecret", "T0KEN"):
            assert secret_part not in shown

    run(qtbot, tmp_path, scenario)


def test_live_status_turns_failing_then_ok_and_a_closed_dialog_is_left_alone(qtbot: QtBot, tmp_path: Path) -> None:
    with WebhookReceiver(statuses=[500]) as receiver:

        async def scenario(app: AppSide) -> None:
            dialog, editor = await app.open()
            assert app.dispatcher is not None
            app.dispatcher.submit([fired()])
            await until(lambda: editor.status_of("ops").startswith("failing"))
            host = f"127.0.0.1:{receiver.server.server_address[1]}"
            assert editor.status_of("ops").startswith(f"failing: {host} answered HTTP 500")
            assert TOKEN_PATH not in editor.status_of("ops")
            await until(lambda: editor.status_of("ops").startswith("ok at "))  # the retry went through
            dialog.reject()
            assert app.ui.dialog is None
            app.ui.on_status_changed(ChannelStatus("ops", last_error="ops: late", last_error_at=1.0))  # no dialog
            _dialog, editor = await app.open()
            assert editor.status_of("ops").startswith("ok at ")  # what the dispatcher says now

        run(qtbot, tmp_path, scenario, keyring_with(receiver.url), OPS)


def test_closing_the_dialog_while_a_test_is_sent_is_harmless(qtbot: QtBot, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver(delay_s=0.3) as receiver:

        async def scenario(app: AppSide) -> None:
            dialog, editor = await app.open()
            editor.select("ops")
            editor.test_button.click()
            await until(lambda: len(receiver.posts) == 1)
            dialog.reject()
            assert app.ui.dialog is None
            assert app.ui.busy
            await until(lambda: not app.ui.busy)  # the answer arrived after the dialog was gone
            _dialog, editor = await app.open()
            assert editor.status_of("ops") == "not sent yet"  # a test is not an alert

        run(qtbot, tmp_path, scenario, keyring_with(receiver.url), OPS)
    assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_send_test_of_an_unsaved_email_channel_reaches_the_mail_server(qtbot: QtBot, tmp_path: Path) -> None:
    with smtp_server() as (port, mailbox):

        async def scenario(app: AppSide) -> None:
            _dialog, editor = await app.open()
            editor.add_email_button.click()
            dialog = editor.dialog
            assert isinstance(dialog, EmailDialog)
            dialog.name_edit.setText("lab-mail")
            dialog.host_edit.setText("127.0.0.1")
            dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("none"))
            dialog.port_spin.setValue(port)
            dialog.sender_edit.setText("gpuwatch@lab.org")
            dialog.recipients_edit.setText("oncall@lab.org")
            dialog.ok_button.click()
            assert editor.target_of("lab-mail") == f"127.0.0.1:{port} → oncall@lab.org"
            assert (await send_test(editor, "lab-mail")).startswith("test ok at ")
            assert mailbox.envelopes == [("gpuwatch@lab.org", ["oncall@lab.org"])]

        run(qtbot, tmp_path, scenario)
