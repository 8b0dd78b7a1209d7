"""Connects the ``SlurmService`` to the ``SlurmView``: every service change is shown, Refresh asks for a fetch."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, Signal

from gpuwatch_desktop.services.slurm_service import SlurmService
from gpuwatch_desktop.ui.slurm_view import SlurmView


class SlurmController(QObject):
    serviceChanged = Signal()  # re-emitted from the service's listener (same thread: the qasync loop)

    def __init__(self, service: SlurmService, view: SlurmView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.view = view
        self._unsubscribe = service.subscribe(self.serviceChanged.emit)
        self.serviceChanged.connect(self._on_service_changed)
        view.refreshRequested.connect(self._on_refresh_requested)
        view.destroyed.connect(self.detach)
        self._on_service_changed()

    def detach(self) -> None:
        """Stop listening to the service (idempotent)."""
        self._unsubscribe()

    def _on_service_changed(self) -> None:
        if not shiboken6.isValid(self.view):
            self.detach()
            return
        service = self.service
        self.view.show_status(service.url, service.latest, service.fetching)

    def _on_refresh_requested(self) -> None:
        self.service.request_refresh()
