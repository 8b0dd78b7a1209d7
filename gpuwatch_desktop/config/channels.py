"""Notification channel settings (no secrets: the webhook URL and SMTP password live in the keyring)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gpuwatch_desktop.core.errors import ConfigError

WebhookStyle = Literal["alertmanager", "slack"]
SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """A webhook channel's settings; the URL is the secret ``webhook:<name>``."""

    name: str
    style: WebhookStyle = "alertmanager"
    timeout_s: float = 10.0
    enabled: bool = True

    def validate(self) -> None:
        if not self.name.strip():
            raise ConfigError("a webhook channel needs a name")
        if self.style not in ("alertmanager", "slack"):
            raise ConfigError(f"webhook {self.name!r}: style must be 'alertmanager' or 'slack', not {self.style!r}")
        if not 0 < self.timeout_s <= 300:
            raise ConfigError(f"webhook {self.name!r}: timeout must be between 0 and 300 s")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """An e-mail channel's settings; the password is the secret ``smtp:<name>``."""

    name: str
    host: str
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = field(default_factory=tuple)
    timeout_s: float = 20.0
    enabled: bool = True

    def validate(self) -> None:
        where = f"e-mail channel {self.name!r}"
        if not self.name.strip():
            raise ConfigError("an e-mail channel needs a name")
        if not self.host.strip() or not 0 < self.port < 65536:
            raise ConfigError(f"{where}: needs an SMTP host and a port between 1 and 65535")
        if self.security not in ("starttls", "tls", "none"):
            raise ConfigError(f"{where}: security must be 'starttls', 'tls' or 'none', not {self.security!r}")
        if self.username and self.security == "none":
            raise ConfigError(f"{where}: a password is only sent encrypted; choose STARTTLS or TLS")
        if "@" not in self.sender or not self.recipients or any("@" not in r for r in self.recipients):
            raise ConfigError(f"{where}: needs a sender and at least one recipient address")
        if not 0 < self.timeout_s <= 300:
            raise ConfigError(f"{where}: timeout must be between 0 and 300 s")



ChannelConfig = WebhookConfig | EmailConfig


def channel_to_dict(config: ChannelConfig) -> dict[str, Any]:
    data = asdict(config)
    if isinstance(config, EmailConfig):
        data["recipients"] = list(config.recipients)
    return {"type": "webhook" if isinstance(config, WebhookConfig) else "email", **data}


def channel_from_dict(data: object) -> ChannelConfig:
    if not isinstance(data, dict):
        raise ConfigError("a notification channel must be an object")
    fields = {k: v for k, v in data.items() if k != "type"}
    try:
        if data.get("type") == "webhook":
            config: ChannelConfig = WebhookConfig(**fields)
        elif data.get("type") == "email":
            fields["recipients"] = tuple(fields.get("recipients", ()))
            config = EmailConfig(**fields)
        else:
            raise ConfigError(f"unknown channel type {data.get('type')!r}; use 'webhook' or 'email'")
    except TypeError as exc:
        raise ConfigError(f"notification channel {data.get('name')!r}: {exc}") from None
    config.validate()
    return config
