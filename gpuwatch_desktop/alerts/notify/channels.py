"""Outside notification channels: a webhook (Alertmanager or Slack body) and e-mail over SMTP.

A channel's settings (``WebhookConfig``, ``EmailConfig``) hold no secret. The webhook URL (it often carries a
token) and the SMTP password come from the ``SecretStore`` and are passed when the channel is built; they never
appear in an error message: a webhook is named by its host only.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from gpuwatch_desktop.alerts.notify.payloads import Notification, alertmanager_payload, email_message, slack_payload
from gpuwatch_desktop.config.channels import EmailConfig, SmtpSecurity, WebhookConfig, WebhookStyle
from gpuwatch_desktop.config.secrets import SecretStore, redact, smtp_secret_name, webhook_secret_name
from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.core.errors import ConfigError, GpuwatchError

log = logging.getLogger(__name__)


class ChannelError(GpuwatchError):
    """A channel could not deliver; the message names the channel and host, never a URL path or password."""

    def __init__(self, channel: str, reason: str, status: int | None = None) -> None:
        self.channel = channel
        self.reason = reason
        self.status = status
        super().__init__(f"{channel}: {reason}")


class Channel(Protocol):
    name: str

    async def send(self, notification: Notification) -> None:
        """Deliver or raise ``ChannelError``."""

    async def aclose(self) -> None: ...


def host_of(url: str) -> str:
    """What may be shown of a webhook URL: its host (and port)."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2] or "an invalid URL"
    except ValueError:
        return "an invalid URL"


class WebhookChannel:
    """POSTs a JSON body (Alertmanager v4 or Slack text) to a URL with httpx."""

    def __init__(self, name: str, url: str, style: WebhookStyle = "alertmanager", timeout_s: float = 10.0,
                 receiver: str = "gpuwatch", external_url: str = "", max_alerts: int = 0) -> None:
        self.name = name
        self.host = host_of(url)
        if urlsplit(url).scheme not in ("http", "https") or self.host == "an invalid URL":
            raise ChannelError(name, "the webhook URL must start with http:// or https:// and name a host")
        self._url = url
        self._style = style
        self._timeout_s = timeout_s
        self._receiver = receiver
        self._external_url = external_url
        self._max_alerts = max_alerts
        self._client: httpx.AsyncClient | None = None

    def body(self, notification: Notification) -> dict[str, object]:
        if self._style == "slack":
            return dict(slack_payload(notification))
        return alertmanager_payload(notification, self._receiver, self._external_url, self._max_alerts)

    async def send(self, notification: Notification) -> None:
        if self._client is None:  # loading the CA bundle (once for the app) takes ~25 ms: not on the event loop
            context = await asyncio.to_thread(shared_ssl_context)
            if self._client is None:  # another send may have made one meanwhile
                self._client = httpx.AsyncClient(timeout=self._timeout_s, verify=context, follow_redirects=False)
        try:
            response = await self._client.post(self._url, json=self.body(notification))
        except httpx.TimeoutException:
            raise ChannelError(self.name, f"{self.host} did not answer within {self._timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            reason = self._safe(str(exc)) or type(exc).__name__
            raise ChannelError(self.name, f"cannot post to {self.host}: {reason}") from None
        if not response.is_success:
            text = self._safe(response.text.strip())[:200]
            detail = f": {text}" if text else ""
            raise ChannelError(self.name, f"{self.host} answered HTTP {response.status_code}{detail}",
                               response.status_code)

    def _safe(self, text: str) -> str:
        parts = urlsplit(self._url)
        return redact(text, [self._url, parts.path if len(parts.path) > 1 else None, parts.query])

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class EmailChannel:
    """Sends a plain-text mail with smtplib in a worker thread; STARTTLS or implicit TLS verify the server."""

    def __init__(self, name: str, host: str, port: int, security: SmtpSecurity, username: str, password: str | None,
                 sender: str, recipients: Sequence[str], timeout_s: float = 20.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.recipients = tuple(recipients)
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context  # tests pass one that trusts their own certificate

    async def send(self, notification: Notification) -> None:
        message = email_message(notification, self.sender, self.recipients)
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(self.name, f"{self.host} refused the login of {self.username!r}: "
                                          f"{self._smtp_reason(exc)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise ChannelError(self.name, f"{self.host} refused the recipients {refused}") from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = self._smtp_reason(exc) or type(exc).__name__
            raise ChannelError(self.name, f"cannot send mail via {self.host}:{self.port}: {reason}") from None

    def _smtp_reason(self, exc: Exception) -> str:
        if isinstance(exc, smtplib.SMTPResponseException):
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return redact(f"{exc.smtp_code} {text}", [self._password])
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout_s:g} s"
        return redact(str(exc), [self._password])

    def _send_blocking(self, message: EmailMessage) -> None:
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password or "")
            refused = smtp.send_message(message)
        if refused:  # some recipients got it; retrying would send it to them again
            log.warning("e-mail channel %s: %s refused %s", self.name, self.host, ", ".join(sorted(refused)))

    async def aclose(self) -> None:
        return None


def build_channel(config: WebhookConfig | EmailConfig, secrets: SecretStore) -> WebhookChannel | EmailChannel:
    """A channel from its settings and its secret. Blocking (keyring): call it in a worker thread."""
    config.validate()
    if isinstance(config, WebhookConfig):
        url = secrets.get(webhook_secret_name(config.name))
        if not url:
            raise ConfigError(f"webhook {config.name!r} has no URL in the keyring; enter it in Settings")
        try:
            return WebhookChannel(config.name, url, config.style, config.timeout_s)
        except ChannelError as exc:
            raise ConfigError(str(exc)) from None
    password = secrets.get(smtp_secret_name(config.name)) if config.username else None
    if config.username and not password:
        raise ConfigError(f"e-mail channel {config.name!r} has no SMTP password in the keyring; enter it in Settings")
    return EmailChannel(config.name, config.host, config.port, config.security, config.username, password,
                        config.sender, config.recipients, config.timeout_s)
