"""Startup probe for bench/startup.py: records when the main window is first painted.

Set ``GPUWATCH_STARTUP_PROBE=FILE`` and the app writes ``{"painted_monotonic": ..., "painted_wall": ...}`` to FILE
once the first frame of its main window has been painted. ``time.monotonic()`` is the system-wide
CLOCK_MONOTONIC on Linux, so the bench compares it with its own clock read just before it started the process.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QMainWindow, QWidget

PROBE_ENV = "GPUWATCH_STARTUP_PROBE"
log = logging.getLogger(__name__)


class FirstPaintProbe(QObject):
    """An application-wide event filter that waits for the first paint inside a main window, then removes itself."""

    def __init__(self, path: Path, app: QCoreApplication) -> None:
        super().__init__(app)
        self._path = path
        self._app = app
        self.painted = False
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (not self.painted and event.type() == QEvent.Type.Paint and isinstance(watched, QWidget)
                and isinstance(watched.window(), QMainWindow)):
            self.painted = True
            self._app.removeEventFilter(self)
            QTimer.singleShot(0, self._record)  # after the rest of this frame is painted and flushed
        return False

    def _record(self) -> None:
        stamp = {"painted_monotonic": time.monotonic(), "painted_wall": time.time(), "pid": os.getpid()}
        try:
            self._path.write_text(json.dumps(stamp))
        except OSError as exc:
            log.error("startup probe: cannot write %s: %s", self._path, exc)


def install_startup_probe(app: QCoreApplication) -> FirstPaintProbe | None:
    """The probe when ``GPUWATCH_STARTUP_PROBE`` names a file, else None (no cost)."""
    target = os.environ.get(PROBE_ENV)
    return FirstPaintProbe(Path(target), app) if target else None
