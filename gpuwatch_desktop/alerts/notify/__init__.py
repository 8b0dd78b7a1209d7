"""Outside notifications: Alertmanager/Slack webhooks and e-mail, grouped, repeated and retried."""

from gpuwatch_desktop.alerts.notify.channels import (
    Channel,
    ChannelError,
    EmailChannel,
    EmailConfig,
    WebhookChannel,
    WebhookConfig,
    build_channel,
)
from gpuwatch_desktop.alerts.notify.dispatcher import ChannelStatus, NotificationDispatcher, RetryPolicy
from gpuwatch_desktop.alerts.notify.payloads import (
    Notification,
    NotifiedAlert,
    alertmanager_payload,
    email_message,
    slack_payload,
)

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelStatus",
    "EmailChannel",
    "EmailConfig",
    "Notification",
    "NotificationDispatcher",
    "NotifiedAlert",
    "RetryPolicy",
    "WebhookChannel",
    "WebhookConfig",
    "alertmanager_payload",
    "build_channel",
    "email_message",
    "slack_payload",
]
