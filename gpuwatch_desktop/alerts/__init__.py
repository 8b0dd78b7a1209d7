"""Alerting: the rule engine over the live windows, a replay preview, rule files and the default set
(``engine``, ``preview``, ``rules_file``), and notifications (``notify``).

A layer beside ``sources`` and ``storage``: it imports only ``core`` and ``config``, never Qt.
The engine is not thread-safe: one caller (the alert service) drives it.
"""

from gpuwatch_desktop.alerts.engine import AlertEngine, Evaluation
from gpuwatch_desktop.alerts.intake import WindowSource, derive

__all__ = ["AlertEngine", "Evaluation", "WindowSource", "derive"]
