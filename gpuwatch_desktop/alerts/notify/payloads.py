"""What a notification channel sends, and its wire formats: Alertmanager webhook, Slack text, e-mail. Pure.

The webhook payload follows Alertmanager's ``webhook_config`` format, version "4"
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config, and the sample payload of
https://docs.rs/crate/alertmanager-webhook-types): top-level ``version``, ``groupKey``, ``truncatedAlerts``,
``status``, ``receiver``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``, ``alerts``;
each alert has ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt`` (``0001-01-01T00:00:00Z`` while
firing, Go's zero time), ``generatorURL`` and a 16-hex ``fingerprint``. Subjects follow Alertmanager's default
``__subject`` template: ``[FIRING:2] <group label values> (<what the alerts share>)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState, SeriesKey, Severity

FIRING = "firing"
RESOLVED = "resolved"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert still fires
RESERVED_LABELS = ("alertname", "severity", "node", "gpu")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NotifiedAlert:
    """One alert inside a notification."""

    status: str  # FIRING or RESOLVED
    labels: Labels  # alertname, severity, node, gpu (GPU rules), then the rule's own labels
    annotations: Labels  # summary, description
    starts_at: float
    ends_at: float | None  # None while firing
    fingerprint: str
    value: float | None = None

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one group of alerts, sent as is to every channel."""

    group_key: str
    group_labels: Labels
    alerts: tuple[NotifiedAlert, ...]
    sent_at: float

    @property
    def firing(self) -> tuple[NotifiedAlert, ...]:
        return tuple(a for a in self.alerts if a.status == FIRING)

    @property
    def resolved(self) -> tuple[NotifiedAlert, ...]:
        return tuple(a for a in self.alerts if a.status == RESOLVED)

    @property
    def status(self) -> str:
        return FIRING if self.firing else RESOLVED


def fingerprint(key: SeriesKey) -> str:
    """A stable 16-hex id of a series, shaped like Alertmanager's alert fingerprint."""
    return hashlib.sha256(key.fingerprint.encode()).hexdigest()[:16]


def series_labels(rule_name: str, severity: Severity, node: str, gpu: int | None, extra: Labels = ()) -> Labels:
    own: list[tuple[str, str]] = [("alertname", rule_name), ("severity", severity.value), ("node", node)]
    if gpu is not None:
        own.append(("gpu", str(gpu)))
    return (*own, *((k, v) for k, v in extra if k not in RESERVED_LABELS))


def _where(node: str, gpu: int | None) -> str:
    return node if gpu is None else f"{node} GPU {gpu}"


def _value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def _annotations(rule_name: str, severity: Severity, node: str, gpu: int | None, value: float | None,
                 summary: str) -> Labels:
    description = f"{rule_name} ({severity.value}) on {_where(node, gpu)}: value {_value(value)}"
    return (("summary", summary or description), ("description", description))


def alert_from_event(event: AlertEvent, starts_at: float | None = None, rule_labels: Labels = ()) -> NotifiedAlert:
    """A FIRING or RESOLVED event as an alert; ``starts_at`` is when it fired (a resolve event ends at its time)."""
    resolved = event.state is AlertState.RESOLVED
    return NotifiedAlert(
        status=RESOLVED if resolved else FIRING,
        labels=series_labels(event.rule_name, event.severity, event.node, event.gpu, rule_labels),
        annotations=_annotations(event.rule_name, event.severity, event.node, event.gpu, event.value, event.summary),
        starts_at=event.time if starts_at is None else starts_at,
        ends_at=event.time if resolved else None,
        fingerprint=fingerprint(SeriesKey(event.rule_id, event.node, event.gpu)),
        value=event.value,
    )


def alert_from_active(active: ActiveAlert) -> NotifiedAlert:
    """A still-firing alert, for repeats."""
    key = active.key
    return NotifiedAlert(
        status=FIRING,
        labels=series_labels(active.rule_name, active.severity, key.node, key.gpu, active.labels),
        annotations=_annotations(active.rule_name, active.severity, key.node, key.gpu, active.value, active.summary),
        starts_at=active.since,
        ends_at=None,
        fingerprint=fingerprint(key),
        value=active.value,
    )


def group_key(group_labels: Labels) -> str:
    """Alertmanager's shape: ``{}:{alertname="GPU too hot"}`` (route path, then the group's labels)."""
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(group_labels))
    return "{}:{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(pairs: Sequence[Labels]) -> dict[str, str]:
    if not pairs:
        return {}
    common = dict(pairs[0])
    for labels in pairs[1:]:
        other = dict(labels)
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return common


def alertmanager_payload(notification: Notification, receiver: str, external_url: str = "",
                         max_alerts: int = 0) -> dict[str, Any]:
    """The Alertmanager webhook body (version "4"); ``max_alerts`` > 0 truncates like Alertmanager's option."""
    alerts = notification.alerts
    shown = alerts[:max_alerts] if max_alerts > 0 else alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(shown),
        "status": notification.status,
        "receiver": receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "alerts": [_alert_json(a) for a in shown],
    }


def _alert_json(alert: NotifiedAlert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": GO_ZERO_TIME if alert.ends_at is None else rfc3339(alert.ends_at),
        "generatorURL": "",
        "fingerprint": alert.fingerprint,
    }


def subject(notification: Notification) -> str:
    """``[FIRING:2] GPU too hot (node-1)`` / ``[RESOLVED] GPU too hot (node-1, node-2)``."""
    firing = len(notification.firing)
    status = f"FIRING:{firing}" if firing else "RESOLVED"
    title = " ".join(v for _, v in notification.group_labels)
    if "node" in dict(notification.group_labels):
        return f"[{status}] {title}"
    nodes = sorted({a.label("node") for a in notification.alerts})
    shown = ", ".join(nodes[:3]) + (f" +{len(nodes) - 3} more" if len(nodes) > 3 else "")
    return f"[{status}] {title} ({shown})"


def _line(alert: NotifiedAlert) -> str:
    marker = alert.label("severity").upper() if alert.status == FIRING else "RESOLVED"
    gpu = alert.label("gpu")
    where = _where(alert.label("node"), int(gpu) if gpu else None)
    summary = dict(alert.annotations).get("summary", "")
    return f"[{marker}] {where}, value {_value(alert.value)}: {summary}"


def slack_payload(notification: Notification) -> dict[str, str]:
    """A Slack incoming-webhook body: the subject, then one line per alert, firing ones first."""
    ordered = (*notification.firing, *notification.resolved)
    return {"text": "\n".join([subject(notification), *(_line(a) for a in ordered)])}


def email_message(notification: Notification, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """A plain-text mail: the subject as headline, then firing and resolved alerts with their times."""
    message = EmailMessage()
    message["Subject"] = subject(notification)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(notification.sent_at)
    message["Message-ID"] = make_msgid(domain="gpuwatch.local")  # an explicit domain: no slow FQDN lookup
    message.set_content(_email_body(notification))
    return message


def _email_body(notification: Notification) -> str:
    lines = [subject(notification), ""]
    for title, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if not alerts:
            continue
        lines.append(f"{title} ({len(alerts)}):")
        for alert in alerts:
            ended = "" if alert.ends_at is None else f" until {rfc3339(alert.ends_at)}"
            lines.append(f"- {_line(alert)}")
            lines.append(f"  since {rfc3339(alert.starts_at)}{ended}; {dict(alert.annotations)['description']}")
        lines.append("")
    lines.append("Sent by GPU Watchdog Desktop.")
    return "\n".join(lines) + "\n"


def sample_notification(now: float) -> Notification:
    """A made-up firing alert, for a channel's "send test" button."""
    alert = NotifiedAlert(
        status=FIRING,
        labels=series_labels("Test notification", Severity.INFO, "test-node", 0),
        annotations=(("summary", "This is a test from GPU Watchdog Desktop"), ("description", "no action needed")),
        starts_at=now, ends_at=None, fingerprint=fingerprint(SeriesKey("test", "test-node", 0)), value=None,
    )
    labels = (("alertname", "Test notification"),)
    return Notification(group_key=group_key(labels), group_labels=labels, alerts=(alert,), sent_at=now)
