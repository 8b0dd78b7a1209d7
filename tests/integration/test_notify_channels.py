"""Webhook and e-mail channels against real loopback receivers (HTTP server, aiosmtpd with STARTTLS, TLS, AUTH)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gpuwatch_desktop.alerts.notify.channels import (
    ChannelError,
    EmailChannel,
    EmailConfig,
    SmtpSecurity,
    WebhookChannel,
    WebhookConfig,
    build_channel,
)
from gpuwatch_desktop.alerts.notify.payloads import Notification, alert_from_event, group_key
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.core.alerts import AlertEvent, AlertState, Severity
from gpuwatch_desktop.core.errors import ConfigError
from tests.integration.notify_servers import TOKEN_PATH, TlsFiles, WebhookReceiver, make_tls_files, smtp_server
from tests.unit.test_secrets import MemoryKeyring

PASSWORD = "correct-horse-battery"
T0 = 1_700_000_000.0


def firing_group(count: int = 2) -> Notification:
    events = [AlertEvent(T0, "hot", "GPU too hot", "node-1", gpu, AlertState.FIRING, AlertState.PENDING,
                         Severity.CRITICAL, 90.0 + gpu, f"GPU {gpu} is hot") for gpu in range(count)]
    labels = (("alertname", "GPU too hot"),)
    return Notification(group_key(labels), labels, tuple(alert_from_event(e) for e in events), sent_at=T0)


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path)


def test_webhook_posts_alertmanager_v4_json() -> None:
    with WebhookReceiver() as receiver:
        channel = WebhookChannel("ops", receiver.url, "alertmanager", timeout_s=2)

        async def send() -> None:
            await channel.send(firing_group())
            await channel.aclose()

        asyncio.run(send())
        (post,) = receiver.wait_for(1)
    assert post.path == TOKEN_PATH + "?key=t0psecret"
    assert post.content_type == "application/json"
    assert post.body["version"] == "4"
    assert post.body["status"] == "firing"
    assert post.body["receiver"] == "gpuwatch"
    assert [a["labels"]["gpu"] for a in post.body["alerts"]] == ["0", "1"]
    assert all(a["endsAt"] == "0001-01-01T00:00:00Z" for a in post.body["alerts"])


def test_webhook_posts_slack_text() -> None:
    with WebhookReceiver() as receiver:
        asyncio.run(WebhookChannel("chat", receiver.url, "slack", timeout_s=2).send(firing_group(1)))
        (post,) = receiver.wait_for(1)
    assert post.body == {"text": "[FIRING:1] GPU too hot (node-1)\n[CRITICAL] node-1 GPU 0, value 90: GPU 0 is hot"}


def test_webhook_http_error_shows_status_and_host_but_never_the_url() -> None:
    with WebhookReceiver(statuses=[500]) as receiver:
        channel = WebhookChannel("ops", receiver.url, timeout_s=2)
        with pytest.raises(ChannelError) as caught:
            asyncio.run(channel.send(firing_group()))
    error = caught.value
    assert error.status == 500
    host = re.sub(r"^http://([^/]+)/.*$", r"\1", receiver.url)
    assert str(error).startswith(f"ops: {host} answered HTTP 500")
    assert "T0KEN" not in str(error) and "t0psecret" not in str(error)  # the receiver echoed the path


def test_webhook_refused_port_is_a_channel_error_naming_the_host(refused_url: str) -> None:
    url = refused_url.replace("/metrics", TOKEN_PATH)
    with pytest.raises(ChannelError, match=r"cannot post to 127\.0\.0\.1:\d+") as caught:
        asyncio.run(WebhookChannel("ops", url, timeout_s=2).send(firing_group()))
    assert "T0KEN" not in str(caught.value)


def test_webhook_url_must_be_http_and_shows_only_its_host() -> None:
    with pytest.raises(ChannelError, match="must start with http"):
        WebhookChannel("ops", "ftp://example.com/x")
    assert WebhookChannel("ops", "https://user:pw@hooks.example.com:8443/T/x?token=1").host == "hooks.example.com:8443"


def email(port: int, security: SmtpSecurity, tls: TlsFiles | None, username: str = "",
          password: str | None = None) -> EmailChannel:
    return EmailChannel("mail", "127.0.0.1", port, security, username, password, "gpuwatch@example.com",
                        ["ops@example.com", "me@example.com"], timeout_s=3,
                        ssl_context=tls.client_context() if tls else None)


def test_email_plain_smtp_delivers_to_every_recipient() -> None:
    with smtp_server() as (port, mailbox):
        asyncio.run(email(port, "none", None).send(firing_group()))
        (message,) = mailbox.wait_for(1)
    assert mailbox.envelopes == [("gpuwatch@example.com", ["ops@example.com", "me@example.com"])]
    assert message["Subject"] == "[FIRING:2] GPU too hot (node-1)"
    assert "GPU 1 is hot" in message.get_payload()


IMPLICIT_TLS = pytest.param("tls", marks=pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"))  # aiosmtpd does not see implicit TLS as TLS


@pytest.mark.parametrize("security", ["starttls", IMPLICIT_TLS])
def test_email_with_tls_and_login(tls: TlsFiles, security: SmtpSecurity) -> None:
    with smtp_server(tls, security, PASSWORD) as (port, mailbox):
        asyncio.run(email(port, security, tls, "alerts", PASSWORD).send(firing_group()))
        (message,) = mailbox.wait_for(1)
    assert mailbox.logins == ["alerts"]
    assert message["To"] == "ops@example.com, me@example.com"


def test_email_wrong_password_is_refused_without_showing_it(tls: TlsFiles) -> None:
    with smtp_server(tls, "starttls", PASSWORD) as (port, mailbox):
        with pytest.raises(ChannelError, match=r"127\.0\.0\.1 refused the login of 'alerts': 535") as caught:
            asyncio.run(email(port, "starttls", tls, "alerts", "wrong-pass-123").send(firing_group()))
        assert mailbox.messages == []
    assert "wrong-pass-123" not in str(caught.value)


def test_email_production_context_rejects_an_unknown_certificate(tls: TlsFiles) -> None:
    with smtp_server(tls, "starttls", PASSWORD) as (port, mailbox):
        with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(email(port, "starttls", None, "alerts", PASSWORD).send(firing_group()))
        assert mailbox.messages == []


def test_email_server_that_requires_starttls_refuses_plain_mail(tls: TlsFiles) -> None:
    with smtp_server(tls, "starttls", PASSWORD) as (port, mailbox):
        with pytest.raises(ChannelError, match=r"cannot send mail via 127\.0\.0\.1:\d+: 530"):
            asyncio.run(email(port, "none", None).send(firing_group()))
        assert mailbox.messages == []


def test_build_channel_reads_secrets_from_the_store() -> None:
    store = SecretStore(backend=MemoryKeyring())
    with pytest.raises(ConfigError, match="no URL in the keyring"):
        build_channel(WebhookConfig("ops"), store)
    store.set("webhook:ops", "https://hooks.example.com/T0KEN")
    webhook = build_channel(WebhookConfig("ops", "slack"), store)
    assert isinstance(webhook, WebhookChannel) and webhook.host == "hooks.example.com"
    config = EmailConfig("mail", "smtp.example.com", 587, "starttls", "alerts", "a@example.com", ("b@example.com",))
    with pytest.raises(ConfigError, match="no SMTP password in the keyring"):
        build_channel(config, store)
    store.set("smtp:mail", PASSWORD)
    mail = build_channel(config, store)
    assert isinstance(mail, EmailChannel) and mail.username == "alerts"
    assert PASSWORD not in repr(config)


def test_channel_configs_reject_bad_settings() -> None:
    with pytest.raises(ConfigError, match="only sent encrypted"):
        EmailConfig("mail", "smtp.example.com", 25, "none", "alerts", "a@example.com", ("b@example.com",)).validate()
    with pytest.raises(ConfigError, match="at least one recipient"):
        EmailConfig("mail", "smtp.example.com", 25, "none", "", "a@example.com", ()).validate()
    with pytest.raises(ConfigError, match="style must be"):
        WebhookConfig("ops", "teams").validate()  # type: ignore[arg-type]
