"""Settings → Model: the assistant's OpenAI-compatible server (URL, model, API key, timeout, steps), "Test
connection" (lists the server's models into the model box) and "Detect local servers" (vLLM, Ollama, LM Studio on
this machine, offered in a list, applied only by a click on "Use").

``ModelSettingsTab`` is the widget: it holds no keyring and does no I/O. ``ModelTabController`` runs the tests
and the keyring reads off the GUI thread. The API key goes to the keyring under ``LLM_API_KEY_SECRET`` through
``secret_updates()`` (empty field: the stored key is kept), never to the settings file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import qasync
import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.agent.client import describe_error, detect_local_servers, list_models, make_client
from gpuwatch_desktop.config.llm import LLM_API_KEY_SECRET, LlmConfig
from gpuwatch_desktop.config.secrets import SecretStore, SecretStoreError
from gpuwatch_desktop.core.errors import ConfigError
from gpuwatch_desktop.ui.theme import DARK, Theme

log = logging.getLogger(__name__)
KEY_KEPT = "a key is stored in the system keyring; leave empty to keep it"
KEY_NONE = "none stored (local servers need none)"
DETECT_NONE = "No local server answered on the usual ports (vLLM 8000, Ollama 11434, LM Studio 1234)."
Detected = tuple[str, str, list[str]]  # name, base URL, model ids


class ModelSettingsTab(QWidget):
    testRequested = Signal()
    detectRequested = Signal()

    def __init__(self, config: LlmConfig, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._config = config
        self._theme = theme
        self._key_stored = False
        self._setup_ui()
        self.base_url_edit.setText(config.base_url)
        self.model_combo.setEditText(config.model)
        self.timeout_spin.setValue(config.timeout_s)
        self.steps_spin.setValue(config.max_steps)
        self._on_edited()

    def _setup_ui(self) -> None:
        self.base_url_edit = QLineEdit()
        self.base_url_edit.setPlaceholderText("http://head-pod:8000/v1")
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(KEY_NONE)
        self.forget_key_check = QCheckBox("Remove the stored key")
        self.forget_key_check.setEnabled(False)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(1, 600)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" s")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 50)
        self.steps_spin.setSuffix(" steps")
        self.url_error = self._label(self._theme.crit)
        self.hint_label = self._label(self._theme.muted)
        self.keyring_label = self._label(self._theme.muted)
        form = QFormLayout()
        form.addRow("Server URL", _column(self.base_url_edit, self.url_error))
        form.addRow("Model", _column(self.model_combo, self.hint_label))
        form.addRow("API key", _column(self.key_edit, self.forget_key_check, self.keyring_label))
        form.addRow("Answer timeout", self.timeout_spin)
        form.addRow("Most tool steps per answer", self.steps_spin)
        intro = self._label(self._theme.muted)
        intro.setText("The assistant answers through any OpenAI-compatible server: vLLM on your head pod, Ollama, "
                      "LM Studio or OpenAI. It only reads the cluster's data; it cannot change anything.")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addLayout(self._tests_ui())
        layout.addStretch(1)
        self.base_url_edit.textChanged.connect(self._on_edited)
        self.model_combo.editTextChanged.connect(self._on_edited)

    def _tests_ui(self) -> QVBoxLayout:
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.testRequested.emit)
        self.detect_button = QPushButton("Detect local servers")
        self.detect_button.clicked.connect(self.detectRequested.emit)
        self.result_label = self._label(self._theme.muted)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detected_list = QListWidget()
        self.detected_list.setMaximumHeight(90)
        self.detected_list.hide()
        self.use_button = QPushButton("Use the selected server")
        self.use_button.clicked.connect(self._on_use_clicked)
        self.use_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.detect_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addLayout(buttons)
        column.addWidget(self.result_label)
        column.addWidget(self.detected_list)
        column.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)
        return column

    def _label(self, color: str) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(f"color: {color}")
        return label

    # ---- what the dialog takes -----------------------------------------------------------

    def edited_config(self) -> LlmConfig:
        return replace(self._config, base_url=self.base_url_edit.text().strip(),
                       model=self.model_combo.currentText().strip(), timeout_s=self.timeout_spin.value(),
                       max_steps=self.steps_spin.value())

    def typed_key(self) -> str | None:
        return self.key_edit.text().strip() or None

    def secret_updates(self) -> dict[str, str | None]:
        """For the keyring: a new key, None to remove the stored one, nothing when unchanged."""
        if self.typed_key() is not None:
            return {LLM_API_KEY_SECRET: self.typed_key()}
        if self.forget_key_check.isChecked() and self._key_stored:
            return {LLM_API_KEY_SECRET: None}
        return {}

    def _on_edited(self) -> None:
        config = self.edited_config()
        try:
            config.validate()
            self.url_error.setText("")
        except ConfigError as exc:
            self.url_error.setText(str(exc))
        self.url_error.setVisible(bool(self.url_error.text()))
        if config.base_url and not config.model:
            self.hint_label.setText("Pick a model: Test connection lists the server's models.")
        elif config.model and not config.base_url:
            self.hint_label.setText("Enter the server URL too, or use Detect local servers.")
        else:
            self.hint_label.setText("")
        self.hint_label.setVisible(bool(self.hint_label.text()))

    # ---- shown by the controller ---------------------------------------------------------

    def show_key_state(self, keyring_ok: bool, reason: str, stored: bool) -> None:
        self._key_stored = stored
        self.key_edit.setPlaceholderText(KEY_KEPT if stored else KEY_NONE)
        self.forget_key_check.setEnabled(stored)
        self.keyring_label.setText("Kept in the system keyring, never in the settings file." if keyring_ok
                                   else f"No usable system keyring: a key cannot be saved ({reason}).")
        self.keyring_label.setStyleSheet(f"color: {self._theme.muted if keyring_ok else self._theme.crit}")

    def show_busy(self, text: str) -> None:
        self.test_button.setEnabled(False)
        self.detect_button.setEnabled(False)
        self._show_result(text, self._theme.muted)

    def show_models(self, models: Sequence[str]) -> None:
        """Test connection worked: the server's models go into the model box (the current one is kept)."""
        self._idle()
        current = self.model_combo.currentText()
        self.model_combo.clear()
        self.model_combo.addItems(list(models))
        self.model_combo.setEditText(current or (models[0] if models else ""))
        listed = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
        found = f"{len(models)} model{'s' if len(models) != 1 else ''}: {listed}" if models else "no models listed"
        self._show_result(f"Connected: {found}.", self._theme.ok)

    def show_test_error(self, text: str) -> None:
        self._idle()
        self._show_result(text, self._theme.crit)

    def show_detected(self, found: Sequence[Detected]) -> None:
        """The servers that answered, offered: nothing changes until one is picked and "Use" clicked."""
        self._idle()
        self.detected_list.clear()
        for name, url, models in found:
            item = QListWidgetItem(f"{name} at {url} — {len(models)} model{'s' if len(models) != 1 else ''}")
            item.setData(Qt.ItemDataRole.UserRole, (url, list(models)))
            self.detected_list.addItem(item)
        if found:
            self.detected_list.setCurrentRow(0)
        self.detected_list.setVisible(bool(found))
        self.use_button.setVisible(bool(found))
        self._show_result(f"Found {len(found)}: pick one and click “Use”." if found else DETECT_NONE,
                          self._theme.muted)

    def _on_use_clicked(self) -> None:
        item = self.detected_list.currentItem()
        if item is None:
            return
        url, models = item.data(Qt.ItemDataRole.UserRole)
        self.base_url_edit.setText(url)
        self.model_combo.clear()
        self.model_combo.addItems(models)
        if models and self.model_combo.currentText() not in models:
            self.model_combo.setEditText(models[0])

    def _idle(self) -> None:
        self.test_button.setEnabled(True)
        self.detect_button.setEnabled(True)

    def _show_result(self, text: str, color: str) -> None:
        self.result_label.setText(text)
        self.result_label.setStyleSheet(f"color: {color}")


def _column(*widgets: QWidget) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    for widget in widgets:
        column.addWidget(widget)
    return box


class ModelTabController(QObject):
    """Runs what the Model tab asks, off the GUI thread: the keyring's state, Test connection, Detect."""

    def __init__(self, tab: ModelSettingsTab, secrets: SecretStore,
                 detect: Callable[[], Awaitable[list[Detected]]] = detect_local_servers,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tab = tab
        self._secrets = secrets
        self._detect = detect
        tab.testRequested.connect(self._on_test_requested)
        tab.detectRequested.connect(self._on_detect_requested)

    @property
    def _tab_open(self) -> bool:
        return shiboken6.isValid(self._tab)  # the dialog may have closed while we awaited

    async def show_key_state(self) -> None:
        ok, reason = await asyncio.to_thread(self._secrets.available)
        try:
            stored = ok and await asyncio.to_thread(self._secrets.get, LLM_API_KEY_SECRET) is not None
        except SecretStoreError as exc:
            ok, reason, stored = False, str(exc), False
        if self._tab_open:
            self._tab.show_key_state(ok, reason, stored)

    @qasync.asyncSlot()
    async def _on_test_requested(self) -> None:
        config = self._tab.edited_config()
        try:
            config.validate()
            if not config.base_url:
                raise ConfigError("enter the server URL first, or use Detect local servers")
            key = self._tab.typed_key() or await asyncio.to_thread(self._stored_key)
        except (ConfigError, SecretStoreError) as exc:
            self._tab.show_test_error(f"Not tested: {exc}")
            return
        self._tab.show_busy(f"Connecting to {config.base_url}…")
        client = make_client(replace(config, model=config.model or "any"), key)  # listing models needs none
        import openai  # loaded by make_client; not at module import, which is start-up time

        try:
            models = await list_models(client)
        except openai.APIError as exc:
            if self._tab_open:
                self._tab.show_test_error(describe_error(exc, config)[1])
            return
        finally:
            await client.close()
        if self._tab_open:
            self._tab.show_models(models)

    def _stored_key(self) -> str | None:
        ok, _reason = self._secrets.available()
        return self._secrets.get(LLM_API_KEY_SECRET) if ok else None

    @qasync.asyncSlot()
    async def _on_detect_requested(self) -> None:
        self._tab.show_busy("Looking for local servers…")
        found = await self._detect()
        if self._tab_open:
            self._tab.show_detected(found)
