"""Render the app icon (resources/icons/gpuwatch.svg) to the PNG sizes of the hicolor theme, an .ico and an .icns.

Usage: python packaging/icons.py OUT_DIR  ->  OUT_DIR/hicolor/<N>x<N>/apps/gpuwatch.png, gpuwatch.ico, gpuwatch.icns
Uses QtSvg offscreen, so it runs headless (CI, a build container).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # after the platform is chosen above
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "gpuwatch.svg"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
    finally:
        painter.end()
    return image


def write_icons(out_dir: Path) -> list[Path]:
    """Every icon file under ``out_dir``; raises RuntimeError when the SVG cannot be read or a file not written."""
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise RuntimeError(f"cannot read the icon {SVG}")
    written = []
    for size in PNG_SIZES:
        path = out_dir / "hicolor" / f"{size}x{size}" / "apps" / "gpuwatch.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(_save(render(renderer, size), path, "PNG"))
    written.append(_save(render(renderer, 256), out_dir / "gpuwatch.ico", "ICO"))  # Windows exe and installer
    written.append(_save(render(renderer, 512), out_dir / "gpuwatch.icns", "ICNS"))  # the macOS .app
    return written


def _save(image: QImage, path: Path, fmt: str) -> Path:
    if not image.save(str(path), fmt):
        raise RuntimeError(f"cannot write {path} ({fmt}: is Qt's imageformats plugin for it installed?)")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python packaging/icons.py OUT_DIR")
    for written_path in write_icons(Path(sys.argv[1])):
        print(written_path)
