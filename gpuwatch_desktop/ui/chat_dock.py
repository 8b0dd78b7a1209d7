"""The AI assistant dock: conversation bar (new, open, rename, delete), the chat (``ChatView``), quick prompts and
the input box with Send/Stop. It only shows and asks; ``ChatController`` does the work.

Without a configured model a panel says how to set one up; the quick prompts then run the tools directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.ui.chat_view import ChatView
from gpuwatch_desktop.ui.theme import DARK, Theme

if TYPE_CHECKING:  # storage (peewee, SQLite) is imported after the window's first frame
    from gpuwatch_desktop.storage import Conversation
    from gpuwatch_desktop.ui.main_window import MainWindow

QUICK_PROMPTS: tuple[str, ...] = (
    "What's wrong with the cluster?",
    "Why is GPU utilisation low?",
    "Summarise active alerts",
)
QUICK_LABELS = ("What's wrong?", "Why low utilisation?", "Active alerts")  # short, so the dock can stay narrow
DOCK_WIDTH = 340
SETUP_TEXT = (
    "<b>No model is set up.</b> The assistant needs an OpenAI-compatible server: vLLM on your head pod, Ollama, "
    "LM Studio or OpenAI. Open <b>Settings → Model</b>, enter the server's URL or click <i>Detect local "
    "servers</i>, then <i>Test connection</i> and pick a model.<br>Until then the quick prompts below run the "
    "diagnostic tools directly and show what they found."
)


class PromptEdit(QPlainTextEdit):
    """The question box: Enter sends, Shift+Enter starts a new line."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask about the cluster…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        lines = 3
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2 * int(self.document().documentMargin()) + 6)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ChatDock(QDockWidget):
    askRequested = Signal(str)  # a question typed and sent
    quickPromptRequested = Signal(str)
    stopRequested = Signal()
    newRequested = Signal()
    openRequested = Signal(int)  # conversation id
    renameRequested = Signal(int, str)
    deleteRequested = Signal(int)
    settingsRequested = Signal()

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__("Assistant", parent)
        self.setObjectName("chatDock")  # QMainWindow.saveState keys docks by name
        self._theme = theme
        self._conversations: list[Conversation] = []
        self._current: int | None = None
        self.running = False
        self.rename_dialog: QInputDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self._setup_ui()
        self.set_configured(False, "")

    def _setup_ui(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._conversation_bar())
        layout.addWidget(self._setup_panel())
        self.view = ChatView(self._theme)
        layout.addWidget(self.view, 1)
        layout.addLayout(self._quick_row())
        self.input = PromptEdit()
        self.input.submitted.connect(self._on_submitted)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self._on_send_clicked)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(row)
        self.model_label = QLabel()
        self.model_label.setStyleSheet(f"color: {self._theme.muted}")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(f"color: {self._theme.crit}")
        layout.addWidget(self.status_label)
        layout.addWidget(self.model_label)
        self.setWidget(body)

    def _conversation_bar(self) -> QHBoxLayout:
        self.conversation_combo = QComboBox()
        self.conversation_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.conversation_combo.setMinimumContentsLength(12)
        self.conversation_combo.activated.connect(self._on_conversation_activated)
        self.new_button = _tool_button("New", "Start a new conversation", self.newRequested.emit)
        self.rename_button = _tool_button("Rename…", "Rename this conversation", self._on_rename_clicked)
        self.delete_button = _tool_button("Delete…", "Delete this conversation", self._on_delete_clicked)
        bar = QHBoxLayout()
        bar.addWidget(self.conversation_combo, 1)
        for button in (self.new_button, self.rename_button, self.delete_button):
            bar.addWidget(button)
        return bar

    def _setup_panel(self) -> QFrame:
        self.setup_panel = QFrame()
        self.setup_panel.setObjectName("chatSetup")
        self.setup_panel.setStyleSheet(f"#chatSetup {{ border: 1px solid {self._theme.accent}; border-radius: 4px; }}")
        column = QVBoxLayout(self.setup_panel)
        self.setup_label = QLabel(SETUP_TEXT)
        self.setup_label.setWordWrap(True)
        self.settings_button = QPushButton("Open Settings → Model…")
        self.settings_button.clicked.connect(self.settingsRequested.emit)
        column.addWidget(self.setup_label)
        column.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignLeft)
        return self.setup_panel

    def _quick_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.quick_buttons: list[QPushButton] = []
        for prompt, label in zip(QUICK_PROMPTS, QUICK_LABELS, strict=True):
            button = QPushButton(label)
            button.setToolTip(f"Ask “{prompt}”")
            button.clicked.connect(lambda _checked=False, p=prompt: self._on_quick_clicked(p))
            self.quick_buttons.append(button)
            row.addWidget(button)
        row.addStretch(1)
        return row

    # ---- shown by the controller ---------------------------------------------------------

    def set_configured(self, configured: bool, model: str) -> None:
        self.setup_panel.setVisible(not configured)
        self.model_label.setText(f"Model: {model}" if configured else "No model set up: quick prompts run tools only")

    def set_conversations(self, conversations: Sequence[Conversation], current: int | None) -> None:
        """The saved conversations, newest first; ``current`` selected (None: a new one, not saved yet)."""
        self._conversations, self._current = list(conversations), current
        combo = self.conversation_combo
        combo.blockSignals(True)
        combo.clear()
        if current is None:
            combo.addItem("New conversation", None)
        for conversation in self._conversations:
            combo.addItem(conversation.title, conversation.id)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.created))
            combo.setItemData(combo.count() - 1, f"{conversation.title}\nstarted {when} · {conversation.model}",
                              Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(current)) if current is not None else 0)
        combo.blockSignals(False)
        self._update_enabled()

    @property
    def current_conversation(self) -> int | None:
        return self._current

    def set_running(self, running: bool) -> None:
        """While an answer runs: Send turns into Stop; conversation changes and quick prompts wait."""
        self.running = running
        self.send_button.setText("Stop" if running else "Send")
        self.send_button.setToolTip("Stop the answer now" if running else "Send the question (Enter)")
        self._update_enabled()

    def _update_enabled(self) -> None:
        idle = not self.running
        for widget in (self.conversation_combo, self.new_button, *self.quick_buttons):
            widget.setEnabled(idle)
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(idle and self._current is not None)

    def show_error(self, text: str) -> None:
        """A problem outside the chat itself (conversations not saved or not read); empty clears it."""
        self.status_label.setText(text)
        self.status_label.setToolTip(text)

    # ---- user actions --------------------------------------------------------------------

    def _on_submitted(self) -> None:
        """Enter: send, unless an answer is running (the text waits; only the Stop button stops)."""
        if not self.running:
            self._on_send_clicked()

    def _on_send_clicked(self) -> None:
        if self.running:
            self.stopRequested.emit()
            return
        question = self.input.toPlainText().strip()
        if question:
            self.input.clear()
            self.askRequested.emit(question)

    def _on_quick_clicked(self, prompt: str) -> None:
        if not self.running:
            self.quickPromptRequested.emit(prompt)

    def _on_conversation_activated(self, index: int) -> None:
        conversation_id = self.conversation_combo.itemData(index)
        if conversation_id is not None and conversation_id != self._current:
            self.openRequested.emit(int(conversation_id))

    def _title_of(self, conversation_id: int) -> str:
        return next((c.title for c in self._conversations if c.id == conversation_id), "")

    def _on_rename_clicked(self) -> None:
        if self._current is None:
            return
        conversation_id = self._current
        dialog = self.rename_dialog = QInputDialog(self)
        dialog.setWindowTitle("Rename conversation")
        dialog.setLabelText("Title:")
        dialog.setTextValue(self._title_of(conversation_id))
        dialog.textValueSelected.connect(lambda title: self._on_title_chosen(conversation_id, title))
        dialog.finished.connect(self._on_rename_finished)
        dialog.open()

    def _on_title_chosen(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self.renameRequested.emit(conversation_id, title.strip())

    def _on_rename_finished(self) -> None:
        if self.rename_dialog is not None:
            self.rename_dialog.deleteLater()
            self.rename_dialog = None

    def _on_delete_clicked(self) -> None:
        if self._current is None:
            return
        conversation_id = self._current
        box = self.confirm_box = QMessageBox(
            QMessageBox.Icon.Question, "Delete conversation",
            f"Delete “{self._title_of(conversation_id)}” and all its messages? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._on_delete_finished(conversation_id, result))
        box.open()

    def _on_delete_finished(self, conversation_id: int, result: int) -> None:
        if self.confirm_box is not None:
            self.confirm_box.deleteLater()
            self.confirm_box = None
        if result == QMessageBox.StandardButton.Yes:
            self.deleteRequested.emit(conversation_id)


def _tool_button(text: str, tip: str, slot: Callable[[], object]) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


def dock_chat(window: MainWindow, theme: Theme) -> ChatDock:
    """The dock on the window's right, View → Assistant (Ctrl+Shift+A) to show or hide it, its setup button opening
    Settings on the Model tab. It shows the set-up panel until ``chat_install.connect_chat_dock`` gives it a
    controller (the app docks it before the first frame and connects it after)."""
    dock = ChatDock(theme, window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.resizeDocks([dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)  # a saved layout overrides it
    dock.settingsRequested.connect(lambda: window.settingsRequested.emit("Model"))
    toggle = dock.toggleViewAction()
    toggle.setShortcut(QKeySequence("Ctrl+Shift+A"))
    window.menuBar().addMenu("&View").addAction(toggle)
    return dock
