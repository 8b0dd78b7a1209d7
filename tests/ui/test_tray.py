"""Tray icon state and notifications, and the banner that stands in where no tray exists."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState, SeriesKey, Severity
from gpuwatch_desktop.ui.theme import DARK
from gpuwatch_desktop.ui.tray import (
    SEVERITY_COLORS,
    AlertNotifier,
    NotificationBanner,
    app_icon,
    severity_icon,
    worst_firing,
)


def _event(state: AlertState, severity: Severity, rule: str = "GPU too hot", silenced: bool = False) -> AlertEvent:
    previous = AlertState.PENDING if state is AlertState.FIRING else AlertState.FIRING
    return AlertEvent(1.0, "hot", rule, "node-1", 3, state, previous, severity, 91.0, f"{rule} summary", silenced)


def _active(state: AlertState, severity: Severity, silenced: bool = False) -> ActiveAlert:
    return ActiveAlert(SeriesKey("r", "node-1", 0), "rule", state, severity, 1.0, 1.0, 1.0, "s", silenced=silenced)


def test_worst_firing_ignores_pending_and_silenced() -> None:
    alerts = [_active(AlertState.FIRING, Severity.WARNING), _active(AlertState.PENDING, Severity.CRITICAL),
              _active(AlertState.FIRING, Severity.CRITICAL, silenced=True)]
    assert worst_firing(alerts) is Severity.WARNING
    assert worst_firing([]) is None


def test_severity_icon_carries_the_severity_colour(qapp: object) -> None:
    base = app_icon()
    assert not base.isNull(), "the SVG app icon loads"
    image = severity_icon(base, Severity.CRITICAL).pixmap(64, 64).toImage()
    assert image.pixelColor(48, 48).name() == SEVERITY_COLORS[Severity.CRITICAL]
    plain = severity_icon(base, None).pixmap(64, 64).toImage()
    assert plain.pixelColor(48, 48).name() != SEVERITY_COLORS[Severity.CRITICAL]


def test_without_a_tray_notifications_go_to_the_banner_most_urgent_first(qtbot: QtBot) -> None:
    banner = NotificationBanner(DARK)
    qtbot.addWidget(banner)
    notifier = AlertNotifier(banner, tray_available=False)
    assert notifier.tray is None
    notifier.notify([_event(AlertState.PENDING, Severity.CRITICAL)])
    assert banner.isHidden(), "pending is not notified"
    notifier.notify([_event(AlertState.RESOLVED, Severity.WARNING, "Power throttling"),
                     _event(AlertState.FIRING, Severity.CRITICAL)])
    assert not banner.isHidden()
    text = banner.text_label.text()
    assert "2 alert changes: GPU too hot critical — node-1 GPU 3" in text
    assert "Power throttling resolved — node-1 GPU 3" in text


def test_silenced_events_are_not_notified(qtbot: QtBot) -> None:
    banner = NotificationBanner(DARK)
    qtbot.addWidget(banner)
    AlertNotifier(banner, tray_available=False).notify([_event(AlertState.FIRING, Severity.CRITICAL, silenced=True)])
    assert banner.isHidden()


def test_banner_leads_with_the_worst_firing_alert_when_news_is_a_resolve(qtbot: QtBot) -> None:
    banner = NotificationBanner(DARK)
    qtbot.addWidget(banner)
    notifier = AlertNotifier(banner, tray_available=False)
    notifier.show_alerts([_active(AlertState.FIRING, Severity.CRITICAL), _active(AlertState.FIRING, Severity.WARNING)])
    notifier.notify([_event(AlertState.RESOLVED, Severity.WARNING, "Power throttling")])
    text = banner.text_label.text()
    assert "2 alert(s) firing — worst: rule (critical) on node-1 GPU 0" in text
    assert "Latest: Power throttling resolved — node-1 GPU 3" in text


def test_banner_shows_one_line_per_change_and_escapes_markup(qtbot: QtBot) -> None:
    banner = NotificationBanner(DARK)
    qtbot.addWidget(banner)
    banner.show_message("<b>x</b> fired", "first line\nsecond <i>line</i>", Severity.WARNING)
    text = banner.text_label.text()
    assert "first line<br>second &lt;i&gt;line&lt;/i&gt;" in text and "&lt;b&gt;x&lt;/b&gt; fired" in text
