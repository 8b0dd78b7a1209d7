"""Questions asked before something that costs money or removes pods: a confirm box, "Watch this pod"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.provisioning.runpod_api import RunPodPod
from gpuwatch_desktop.services.runpod_account import LOGS_PORT, METRICS_PORT, exposes_metrics
from gpuwatch_desktop.ui.theme import Theme


def confirm_box(parent: QWidget, title: str, text: str, action: str, *, destructive: bool = False) -> QMessageBox:
    """A window-modal question whose ``action`` button accepts and Cancel (the default) rejects; ``open()`` it."""
    box = QMessageBox(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.NoButton, parent)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    return box


def accept_button(box: QMessageBox) -> object:
    """The box's action button (for tests and keyboard users alike)."""
    return next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole)


class WatchPodDialog(QDialog):
    """Shows where the pod will be watched and asks for its access token (kept in the keyring)."""

    def __init__(self, pod: RunPodPod, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pod = pod
        self._theme = theme
        self._setup_ui()

    def _setup_ui(self) -> None:
        pod = self.pod
        self.setWindowTitle(f"Watch pod {pod.name}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.metrics_label = QLabel(pod.proxy_url(METRICS_PORT) + "/metrics")
        self.logs_label = QLabel(pod.proxy_url(LOGS_PORT))
        for label in (self.metrics_label, self.logs_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("none (a plain dcgm-exporter)")
        form = QFormLayout()
        form.addRow("GPU metrics", self.metrics_label)
        form.addRow("Log server", self.logs_label)
        form.addRow("Access token", self.token_edit)
        note = QLabel("The gpuwatch pod image asks for the token it was started with (GPUWATCH_POD_TOKEN). "
                      "It is kept in the system keyring as the node's token, never in the settings file.")
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {self._theme.muted}")
        self.warning_label = QLabel(self._port_warning())
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(f"color: {self._theme.warn}")
        self.warning_label.setVisible(bool(self.warning_label.text()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Watch", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.warning_label)
        layout.addWidget(buttons)
        self.buttons = buttons

    def _port_warning(self) -> str:
        exposed = exposes_metrics(self.pod)
        if exposed is None:
            return "The pod is not running now: it will show as down until it runs."
        if not exposed:
            return (f"The pod does not expose port {METRICS_PORT} over HTTP. Add {METRICS_PORT}/http to its "
                    "ports in RunPod (Edit Pod), or it will show as down.")
        return ""

    def token(self) -> str:
        return self.token_edit.text().strip()
