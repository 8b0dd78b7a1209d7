"""Alert rules evaluated over the live windows: the engine, a replay preview, rule files and the default set.

A layer beside ``sources`` and ``storage``: it imports only ``core`` and ``config``, never Qt.
"""

from gpuwatch_desktop.alerts.engine import AlertEngine, Evaluation
from gpuwatch_desktop.alerts.intake import WindowSource, derive

__all__ = ["AlertEngine", "Evaluation", "WindowSource", "derive"]
