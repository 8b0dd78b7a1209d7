"""Notification wire formats: Alertmanager webhook v4, Slack text, e-mail."""

from __future__ import annotations

import json
import re

from gpuwatch_desktop.alerts.notify.payloads import (
    GO_ZERO_TIME,
    Notification,
    alert_from_active,
    alert_from_event,
    alertmanager_payload,
    email_message,
    fingerprint,
    group_key,
    slack_payload,
    subject,
)
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState, SeriesKey, Severity

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def event(gpu: int | None, state: AlertState = AlertState.FIRING, node: str = "node-1", time: float = T0,
          value: float | None = 91.0, rule: str = "GPU too hot") -> AlertEvent:
    previous = AlertState.PENDING if state is AlertState.FIRING else AlertState.FIRING
    return AlertEvent(time=time, rule_id="hot", rule_name=rule, node=node, gpu=gpu, state=state, previous=previous,
                      severity=Severity.CRITICAL, value=value, summary=f"GPU {gpu} on {node} is at {value} °C")


def notification(*events: AlertEvent, rule_labels: tuple[tuple[str, str], ...] = ()) -> Notification:
    labels = (("alertname", events[0].rule_name),)
    alerts = tuple(alert_from_event(e, starts_at=T0 - 60 if e.state is AlertState.RESOLVED else None,
                                    rule_labels=rule_labels) for e in events)
    return Notification(group_key(labels), labels, alerts, sent_at=T0 + 10)


def test_alertmanager_v4_payload_of_a_firing_group() -> None:
    note = notification(event(0), event(3, value=93.5), rule_labels=(("team", "ml"), ("node", "spoofed")))
    body = alertmanager_payload(note, receiver="gpuwatch", external_url="http://desk.local")
    assert json.loads(json.dumps(body)) == body  # plain JSON
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "gpuwatch"
    assert body["groupKey"] == '{}:{alertname="GPU too hot"}'
    assert body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "GPU too hot"}
    assert body["commonLabels"] == {"alertname": "GPU too hot", "severity": "critical", "node": "node-1", "team": "ml"}
    assert body["externalURL"] == "http://desk.local"
    first, second = body["alerts"]
    assert first["status"] == "firing"
    assert first["labels"] == {"alertname": "GPU too hot", "severity": "critical", "node": "node-1", "gpu": "0",
                               "team": "ml"}
    assert first["annotations"]["summary"] == "GPU 0 on node-1 is at 91.0 °C"
    assert "value 91" in first["annotations"]["description"]
    assert first["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert first["endsAt"] == GO_ZERO_TIME
    assert re.fullmatch(r"[0-9a-f]{16}", first["fingerprint"])
    assert first["fingerprint"] != second["fingerprint"]
    assert second["labels"]["gpu"] == "3"


def test_resolved_alert_has_start_and_end_and_group_status_follows() -> None:
    mixed = alertmanager_payload(notification(event(0), event(1, AlertState.RESOLVED, time=T0 + 5)), "r")
    assert mixed["status"] == "firing"
    resolved = alertmanager_payload(notification(event(1, AlertState.RESOLVED, time=T0 + 5)), "r")
    assert resolved["status"] == "resolved"
    (alert,) = resolved["alerts"]
    assert alert["status"] == "resolved"
    assert alert["startsAt"] == "2023-11-14T22:12:20.000Z"
    assert alert["endsAt"] == "2023-11-14T22:13:25.000Z"


def test_fingerprint_is_stable_per_series_and_shared_with_active_alerts() -> None:
    key = SeriesKey("hot", "node-1", 2)
    assert fingerprint(key) == fingerprint(SeriesKey("hot", "node-1", 2))
    assert fingerprint(key) != fingerprint(SeriesKey("hot", "node-1", None))
    active = ActiveAlert(key=key, rule_name="GPU too hot", state=AlertState.FIRING, severity=Severity.CRITICAL,
                         since=T0, active_since=T0 - 30, value=90.0, summary="hot")
    assert alert_from_active(active).fingerprint == alert_from_event(event(2)).fingerprint


def test_max_alerts_truncates_and_counts() -> None:
    body = alertmanager_payload(notification(event(0), event(1), event(2)), "r", max_alerts=2)
    assert len(body["alerts"]) == 2
    assert body["truncatedAlerts"] == 1


def test_node_level_alert_has_no_gpu_label() -> None:
    body = alertmanager_payload(notification(event(None, rule="Node down")), "r")
    assert "gpu" not in body["alerts"][0]["labels"]
    assert body["alerts"][0]["labels"]["node"] == "node-1"


def test_slack_text_has_a_status_prefix_and_one_line_per_alert() -> None:
    text = slack_payload(notification(event(0), event(3, value=93.5), event(1, AlertState.RESOLVED)))["text"]
    lines = text.splitlines()
    assert lines[0] == "[FIRING:2] GPU too hot (node-1)"
    assert lines[1] == "[CRITICAL] node-1 GPU 0, value 91: GPU 0 on node-1 is at 91.0 °C"
    assert lines[2] == "[CRITICAL] node-1 GPU 3, value 93.5: GPU 3 on node-1 is at 93.5 °C"
    assert lines[3].startswith("[RESOLVED] node-1 GPU 1, value 91:")
    assert len(lines) == 4
    only_resolved = slack_payload(notification(event(0, AlertState.RESOLVED, node="a"),
                                               event(0, AlertState.RESOLVED, node="b")))["text"]
    assert only_resolved.splitlines()[0] == "[RESOLVED] GPU too hot (a, b)"


def test_subject_shortens_many_nodes() -> None:
    note = notification(*(event(0, node=f"node-{i}") for i in range(5)))
    assert subject(note) == "[FIRING:5] GPU too hot (node-0, node-1, node-2 +2 more)"


def test_email_message_headers_and_body() -> None:
    note = notification(event(0), event(1, AlertState.RESOLVED, time=T0 + 5))
    mail = email_message(note, "gpuwatch@example.com", ["ops@example.com", "me@example.com"])
    assert mail["Subject"] == "[FIRING:1] GPU too hot (node-1)"
    assert mail["From"] == "gpuwatch@example.com"
    assert mail["To"] == "ops@example.com, me@example.com"
    assert mail["Message-ID"].endswith("@gpuwatch.local>")
    body = mail.get_content()
    assert "Firing (1):\n- [CRITICAL] node-1 GPU 0, value 91: GPU 0 on node-1 is at 91.0 °C" in body
    assert "Resolved (1):" in body
    assert "since 2023-11-14T22:12:20.000Z until 2023-11-14T22:13:25.000Z" in body
