"""The main window's first frame: ``first_frame`` waits for it (the app does its slower start-up work after it),
and the startup probe for bench/startup.py records when it was painted.

Set ``GPUWATCH_STARTUP_PROBE=FILE`` and the app writes ``{"painted_monotonic": ..., "painted_wall": ...}`` to FILE
once the first frame of its main window has been painted. ``time.monotonic()`` is the system-wide
CLOCK_MONOTONIC on Linux, so the bench compares it with its own clock read just before it started the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
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
        partial = self._path.with_name(self._path.name + ".partial")
        try:  # written whole, then renamed: the bench polls for the file and must never read half of it
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(stamp))
            partial.replace(self._path)
        except OSError as exc:
            log.error("startup probe: cannot write %s: %s", self._path, exc)


class _PaintWatch(QObject):
    """Calls ``seen`` on each paint of ``widget`` itself (a top-level window paints itself before its children)."""

    def __init__(self, widget: QWidget, seen: Callable[[], None]) -> None:
        super().__init__(widget)
        self._seen = seen
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self._seen()
        return False


async def first_frame(window: QWidget, timeout_s: float) -> None:
    """Return once Qt has drawn ``window`` (shown just before), or after ``timeout_s`` (a minimised window may never
    be drawn). The frame is finished by then: this resumes in a later turn of the event loop than the paint."""
    drawn: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_paint() -> None:
        if not drawn.done():
            drawn.set_result(None)

    watch = _PaintWatch(window, on_paint)
    try:
        await asyncio.wait([drawn], timeout=timeout_s)
    finally:
        window.removeEventFilter(watch)
        watch.deleteLater()


def install_startup_probe(app: QCoreApplication) -> FirstPaintProbe | None:
    """The probe when ``GPUWATCH_STARTUP_PROBE`` names a file, else None (no cost)."""
    target = os.environ.get(PROBE_ENV)
    return FirstPaintProbe(Path(target), app) if target else None
