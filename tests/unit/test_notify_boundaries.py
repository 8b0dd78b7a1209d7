"""alerts.notify imports only core and config of the app, and never Qt (see also test_boundaries)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "pyqtgraph", "qasync", "gpuwatch_desktop.ui", "gpuwatch_desktop.services",
             "gpuwatch_desktop.sources", "gpuwatch_desktop.storage")


def test_notify_imports_only_core_and_config() -> None:
    code = (
        "import sys, gpuwatch_desktop.alerts.notify\n"
        f"bad = sorted(n for n in sys.modules if any(n == f or n.startswith(f + '.') for f in {FORBIDDEN!r}))\n"
        "print(bad)\nsys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
