"""Builds the outside notification channels from settings and secrets, and the dispatcher that feeds them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from gpuwatch_desktop.alerts.notify.channels import Channel, build_channel
from gpuwatch_desktop.alerts.notify.dispatcher import NotificationDispatcher, StatusCallback
from gpuwatch_desktop.config.channels import ChannelConfig
from gpuwatch_desktop.config.secrets import SecretStore
from gpuwatch_desktop.core.alerts import AlertRule
from gpuwatch_desktop.core.errors import GpuwatchError
from gpuwatch_desktop.services.state import ClusterState

log = logging.getLogger(__name__)


def build_channels(configs: Sequence[ChannelConfig], secrets: SecretStore) -> tuple[list[Channel], dict[str, str]]:
    """Channels that could be built, and a reason per channel that could not. Blocking (keyring)."""
    channels: list[Channel] = []
    problems: dict[str, str] = {}
    for config in configs:
        if not config.enabled:
            continue
        try:
            channels.append(build_channel(config, secrets))
        except GpuwatchError as exc:
            problems[config.name] = str(exc)
    return channels, problems


async def start_dispatcher(
    configs: Sequence[ChannelConfig], secrets: SecretStore, state: ClusterState,
    rules: Callable[[], Sequence[AlertRule]], on_status_changed: StatusCallback | None = None,
) -> tuple[NotificationDispatcher, dict[str, str]]:
    """The dispatcher over every channel that could be built (keyring reads run on a worker thread)."""
    channels, problems = await asyncio.to_thread(build_channels, configs, secrets)
    for name, reason in problems.items():
        log.warning("notification channel %s unavailable: %s", name, reason)

    def rule_labels(rule_id: str) -> tuple[tuple[str, str], ...]:
        return next((r.labels for r in rules() if r.id == rule_id), ())

    dispatcher = NotificationDispatcher(
        channels, still_firing=lambda: state.alerts, rule_labels=rule_labels, on_status_changed=on_status_changed,
    )
    return dispatcher, problems
