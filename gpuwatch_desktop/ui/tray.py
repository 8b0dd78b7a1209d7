"""The system tray icon (worst active severity, menu, desktop notifications) or, without a tray, a banner."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QPushButton, QSystemTrayIcon, QWidget

from gpuwatch_desktop.config.paths import resources_dir
from gpuwatch_desktop.core.alerts import ActiveAlert, AlertEvent, AlertState, Severity
from gpuwatch_desktop.ui.theme import Theme

SEVERITY_COLORS = {Severity.INFO: "#58a6ff", Severity.WARNING: "#d29922", Severity.CRITICAL: "#f85149"}
NOTIFY_MS = 8000


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "gpuwatch.svg"))


def severity_icon(base: QIcon, severity: Severity | None, size: int = 64) -> QIcon:
    """The app icon with a coloured dot for the worst firing severity (plain icon when none fire)."""
    pixmap = base.pixmap(size, size)
    if severity is None:
        return QIcon(pixmap)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#0d1117"))
        painter.setBrush(QColor(SEVERITY_COLORS[severity]))
        painter.drawEllipse(QRectF(size * 0.52, size * 0.52, size * 0.46, size * 0.46))
    finally:
        painter.end()
    return QIcon(pixmap)


def worst_firing(alerts: Sequence[ActiveAlert]) -> Severity | None:
    firing = [a.severity for a in alerts if a.state is AlertState.FIRING and not a.silenced]
    return max(firing, key=lambda s: s.rank) if firing else None


def describe_event(event: AlertEvent) -> tuple[str, str]:
    """(title, body) of a desktop notification for a transition."""
    where = event.node if event.gpu is None else f"{event.node} GPU {event.gpu}"
    verb = "resolved" if event.state is AlertState.RESOLVED else event.severity.value
    return f"{event.rule_name} {verb} — {where}", event.summary


def notifiable(events: Sequence[AlertEvent]) -> list[AlertEvent]:
    """Firing and resolved transitions that are not silenced, the most urgent first."""
    shown = [e for e in events if e.state in (AlertState.FIRING, AlertState.RESOLVED) and not e.silenced]
    return sorted(shown, key=lambda e: (e.state is not AlertState.FIRING, -e.severity.rank))


class NotificationBanner(QFrame):
    """The in-window stand-in for desktop notifications where the desktop has no system tray."""

    showAlertsClicked = Signal()

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._setup_ui()
        self.hide()

    def _setup_ui(self) -> None:
        self.setObjectName("notificationBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.text_label = QLabel()
        self.text_label.setWordWrap(True)
        layout.addWidget(self.text_label, 1)
        show = QPushButton("Show alerts")
        show.clicked.connect(self.showAlertsClicked.emit)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(show)
        layout.addWidget(close)

    def show_message(self, title: str, body: str, severity: Severity | None) -> None:
        color = SEVERITY_COLORS.get(severity, self._theme.ok) if severity else self._theme.ok
        self.setStyleSheet(f"#notificationBanner {{ border: 1px solid {color}; border-radius: 4px; }}")
        lines = "<br>".join(html.escape(line) for line in body.splitlines())
        self.text_label.setText(f"<b style='color:{color}'>{html.escape(title)}</b><br>{lines}")
        self.show()


class AlertNotifier(QObject):
    """Shows alert state in the tray and pops notifications; falls back to the banner without a tray."""

    showWindowRequested = Signal()
    muteRequested = Signal()
    quitRequested = Signal()

    def __init__(self, banner: NotificationBanner, tray_available: bool | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.banner = banner
        self._base_icon = app_icon()
        self.worst: Severity | None = None
        self._alerts: list[ActiveAlert] = []
        available = QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        self.tray: QSystemTrayIcon | None = self._make_tray() if available else None

    def _make_tray(self) -> QSystemTrayIcon:
        tray = QSystemTrayIcon(self._base_icon, self)
        menu = QMenu()
        for text, signal in (("Show window", self.showWindowRequested), ("Mute notifications for 1 h",
                                                                         self.muteRequested),
                             ("Quit", self.quitRequested)):
            action = QAction(text, menu)
            action.triggered.connect(signal.emit)
            menu.addAction(action)
        self._menu = menu  # the tray does not own its menu
        tray.setContextMenu(menu)
        tray.activated.connect(self._on_activated)
        tray.setToolTip("GPU Watchdog: no alerts firing")
        tray.show()
        return tray

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.showWindowRequested.emit()

    def show_alerts(self, alerts: Sequence[ActiveAlert]) -> None:
        self._alerts = list(alerts)
        self.worst = worst_firing(alerts)
        firing = sum(1 for a in alerts if a.state is AlertState.FIRING)
        pending = sum(1 for a in alerts if a.state is AlertState.PENDING)
        tip = f"GPU Watchdog: {firing} firing, {pending} pending" if firing or pending else (
            "GPU Watchdog: no alerts firing")
        if self.tray is not None:
            self.tray.setIcon(severity_icon(self._base_icon, self.worst))
            self.tray.setToolTip(tip)

    def notify(self, events: Sequence[AlertEvent]) -> None:
        shown = notifiable(events)
        if not shown:
            return
        title, body = describe_event(shown[0])
        if len(shown) > 1:
            title = f"{len(shown)} alert changes: {title} and more"
            body = "\n".join(describe_event(e)[0] for e in shown[:5])
        severity = None if shown[0].state is AlertState.RESOLVED else shown[0].severity
        if self.tray is not None:
            icon = {Severity.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
                    Severity.WARNING: QSystemTrayIcon.MessageIcon.Warning}.get(
                severity, QSystemTrayIcon.MessageIcon.Information) if severity else (
                QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, body, icon, NOTIFY_MS)
        else:
            self._show_banner(title, body, severity)

    def _show_banner(self, title: str, body: str, severity: Severity | None) -> None:
        """The banner stays on what matters most: while alerts fire it leads with the worst, then the news."""
        firing = sorted((a for a in self._alerts if a.state is AlertState.FIRING and not a.silenced),
                        key=lambda a: -a.severity.rank)
        if firing and severity is None:
            worst = firing[0]
            where = worst.key.node if worst.key.gpu is None else f"{worst.key.node} GPU {worst.key.gpu}"
            body = f"Latest: {title}. {body}"
            title = f"{len(firing)} alert(s) firing — worst: {worst.rule_name} ({worst.severity.value}) on {where}"
            severity = worst.severity
        self.banner.show_message(title, body, severity)

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()


