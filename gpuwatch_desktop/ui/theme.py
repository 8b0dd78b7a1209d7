"""Dark and light themes: one palette for widgets, matching colours for charts and state badges."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from gpuwatch_desktop.core.snapshot import NodeState


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    window: str
    base: str
    text: str
    muted: str
    accent: str
    tile: str
    ok: str = "#3fb950"
    warn: str = "#d29922"
    crit: str = "#f85149"
    stale: str = "#8b949e"

    def level_color(self, level: str) -> QColor:
        return QColor({"ok": self.ok, "warn": self.warn, "crit": self.crit}.get(level, self.stale))

    def state_color(self, state: NodeState) -> QColor:
        return QColor({
            NodeState.UP: self.ok, NodeState.DEGRADED: self.warn, NodeState.DOWN: self.crit,
        }.get(state, self.stale))


DARK = Theme("dark", window="#0d1117", base="#161b22", text="#e6edf3", muted="#8b949e", accent="#58a6ff",
             tile="#1f2630")
LIGHT = Theme("light", window="#f6f8fa", base="#ffffff", text="#1f2328", muted="#656d76", accent="#0969da",
              tile="#eaeef2", ok="#1a7f37", warn="#9a6700", crit="#cf222e", stale="#6e7781")

# Line colours for curves (one per metric or GPU), readable on both backgrounds.
CURVE_COLORS = ("#58a6ff", "#3fb950", "#d29922", "#f85149", "#bc8cff", "#39c5cf", "#ff7b72", "#e3b341")


def theme_named(name: str) -> Theme:
    return LIGHT if name == "light" else DARK


def apply_theme(app: QApplication, theme: Theme) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window, QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.tile, QPalette.ColorRole.Button: theme.base,
        QPalette.ColorRole.Text: theme.text, QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.ButtonText: theme.text, QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.ToolTipBase: theme.base, QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    pg.setConfigOptions(background=theme.base, foreground=theme.text, antialias=False)
