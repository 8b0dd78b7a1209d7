"""Guards against the PySide6 6.12.0 / Python 3.11 crash: QPainter calls over-releasing ``None``.

On that pair every ``QPainter.drawLine`` dropped ``None``'s reference count by one until the
interpreter aborted. Python 3.12+ makes ``None`` immortal, so the count must not move at all.
"""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QLineF
from PySide6.QtGui import QImage, QPainter


def test_qpainter_calls_do_not_release_none(qapp: object) -> None:
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        before = sys.getrefcount(None)
        for i in range(2000):
            painter.drawLine(QLineF(0, i % 64, 63, 63 - i % 64))
            painter.drawText(1, 10, "x")
        after = sys.getrefcount(None)
    finally:
        painter.end()
    assert before - after < 100, f"None lost {before - after} references in 4000 QPainter calls"


def test_runtime_is_not_the_known_crashing_pair() -> None:
    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2])
    assert sys.version_info >= (3, 12) or version < (6, 12), (
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} aborts chart windows; use Python 3.12+"
    )
