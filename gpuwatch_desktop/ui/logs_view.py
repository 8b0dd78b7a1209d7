"""The Logs tab: pick a node and one of its logs, follow it live, search it, and see vLLM's state at the top.

No async code here: ``LogsController`` feeds it lines (``append_lines``), the follow status and vLLM's
state, and listens to ``logSelected``. Following scrolls along while the view is at the end; scrolling up
stops that (``Jump to end`` comes back). Pause holds new lines (up to the buffer size) until Resume.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.core.vllm_state import VllmPhase
from gpuwatch_desktop.services.logs_service import VllmWatch
from gpuwatch_desktop.ui.log_search import LogSearch
from gpuwatch_desktop.ui.theme import Theme

MAX_LINES = 20_000
EMPTY_TEXT = ("No node has a log server yet — set a node's Log server URL (e.g. http://10.0.0.5:8002) "
              "in Settings → Nodes to follow its vLLM and service logs here.")
SEARCH_DELAY_MS = 200  # typing re-runs the search this long after the last key
REFRESH_DELAY_MS = 500  # new lines re-run it at most this often (≈30 ms over 20k lines)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def display_line(line: str) -> str:
    """A log line as a terminal shows it: colour codes dropped, a progress bar's ``\\r`` updates show the last."""
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return line


class LogsView(QWidget):
    logSelected = Signal(str, str)  # node, log name ("" when none)
    nodeSelected = Signal(str)
    settingsRequested = Signal(str)  # the settings tab to open

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.held: deque[str] = deque(maxlen=MAX_LINES)  # lines that came while paused
        self._filling = False  # combos being filled: their signals mean nothing
        self._setup_ui()
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.timeout.connect(self._on_search_timer)
        self.set_nodes([])
        self.show_vllm(None)

    # --- building ------------------------------------------------------------------------------------

    def _setup_ui(self) -> None:
        self.stack = QStackedWidget()
        self.stack.addWidget(self._empty_page())
        self.stack.addWidget(self._log_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._top_bar())
        layout.addWidget(self.stack, 1)

    def _top_bar(self) -> QHBoxLayout:
        self.node_combo, self.log_combo = QComboBox(), QComboBox()
        self.node_combo.setMinimumContentsLength(10)
        self.log_combo.setMinimumContentsLength(14)
        self.node_combo.currentIndexChanged.connect(self._on_node_changed)
        self.log_combo.currentIndexChanged.connect(self._on_log_changed)
        self.badge = QLabel()
        self.badge.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Node"))
        row.addWidget(self.node_combo)
        row.addWidget(QLabel("Log"))
        row.addWidget(self.log_combo)
        row.addStretch(1)
        row.addWidget(self.badge)
        return row

    def _empty_page(self) -> QWidget:
        page = QWidget()
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet(f"color: {self._theme.muted}; padding: 24px")
        button = QPushButton("Open Settings → Nodes")
        button.clicked.connect(lambda: self.settingsRequested.emit("Nodes"))
        column = QVBoxLayout(page)
        column.addStretch(1)
        column.addWidget(self.empty_label)
        column.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(2)
        return page

    def _log_page(self) -> QWidget:
        page = QWidget()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(f"color: {self._theme.crit}; border-left: 3px solid {self._theme.crit};"
                                       " padding: 4px 8px")
        self.error_label.hide()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.text.verticalScrollBar().rangeChanged.connect(self._on_scrolled)
        self.search = LogSearch(self.text, highlight="#6e5a00", current="#d29922", parent=self)
        self.search.matchesChanged.connect(self._on_matches_changed)
        self.jump_button = QPushButton("Jump to end ↓")
        self.jump_button.clicked.connect(self.scroll_to_end)
        self.jump_button.hide()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(self._tool_bar())
        column.addWidget(self.error_label)
        column.addWidget(self.text, 1)
        bottom = QHBoxLayout()
        self.status_label = QLabel()
        self.status_label.setStyleSheet(f"color: {self._theme.muted}")
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.jump_button)
        column.addLayout(bottom)
        return page

    def _tool_bar(self) -> QHBoxLayout:
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search (Enter: next, Shift+Enter: previous)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(lambda _text: self._search_timer.start(SEARCH_DELAY_MS))
        self.search_box.returnPressed.connect(self._on_search_next)
        QShortcut(QKeySequence("Shift+Return"), self.search_box, self.search.previous)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search_box.setFocus)
        self.previous_button, self.next_button = QPushButton("↑"), QPushButton("↓")
        for button in (self.previous_button, self.next_button):
            button.setFixedWidth(36)
        self.previous_button.setToolTip("Previous match (Shift+Enter)")
        self.next_button.setToolTip("Next match (Enter)")
        self.previous_button.clicked.connect(self.search.previous)
        self.next_button.clicked.connect(self._on_search_next)
        self.match_label = QLabel()
        self.match_label.setMinimumWidth(80)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selection, or the whole log when nothing is selected")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        for widget in (self.search_box, self.previous_button, self.next_button, self.match_label):
            row.addWidget(widget, 3 if widget is self.search_box else 0)
        row.addStretch(1)
        row.addWidget(self.pause_button)
        row.addWidget(self.copy_button)
        return row

    # --- what the controller shows -------------------------------------------------------------------

    def set_nodes(self, nodes: Sequence[str], selected: str | None = None) -> None:
        """The nodes with a log server (none: the empty page); keeps the selection when it is still there."""
        current = self.node_combo.currentText()
        wanted = current if current in nodes else selected
        self.stack.setCurrentIndex(1 if nodes else 0)
        self.node_combo.setEnabled(bool(nodes))
        self.log_combo.setEnabled(bool(nodes))
        if self._fill(self.node_combo, list(nodes), wanted):
            self.nodeSelected.emit(self.node_combo.currentText())

    def set_logs(self, names: Sequence[str]) -> None:
        """The selected node's logs; keeps the selected log if the node has it too, else picks vllm or the first."""
        current = self.log_combo.currentText()
        self._fill(self.log_combo, list(names), current if current in names else "vllm")

    def selected(self) -> tuple[str, str]:
        return self.node_combo.currentText(), self.log_combo.currentText()

    def clear_lines(self) -> None:
        self.text.clear()
        self.held.clear()
        self._update_pause_text()
        self.search.refresh()

    def append_lines(self, lines: Sequence[str]) -> None:
        """Add lines at the end (held while paused); scrolls along only when the view was at the end."""
        if not lines:
            return
        if self.pause_button.isChecked():
            self.held.extend(lines)
            self._update_pause_text()
            return
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 1
        keep = bar.value()
        self.text.appendPlainText("\n".join(display_line(line) for line in lines[-MAX_LINES:]))
        bar.setValue(bar.maximum() if at_end else keep)
        if self.search.query and not self._search_timer.isActive():
            self._search_timer.start(REFRESH_DELAY_MS)

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        """A plain message above the log ("" hides it)."""
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def show_vllm(self, watch: VllmWatch | None, unknown_because: str = "") -> None:
        """The vLLM badge: its state on ``watch.node``; without one, unknown (``unknown_because`` a node's
        log server cannot be read) or Not running (no node serves a vLLM log)."""
        theme = self._theme
        if watch is None and unknown_because:
            text, color, tip = "vLLM: unknown", theme.stale, unknown_because
        elif watch is None:
            text, color, tip = "vLLM: Not running", theme.stale, "No node's log server has a vllm log."
        else:
            phase = watch.state.phase
            color = {VllmPhase.READY: theme.ok, VllmPhase.LOADING: theme.accent,
                     VllmPhase.FAILED: theme.crit}.get(phase, theme.stale)
            text = f"vLLM on {watch.node}: {watch.state.summary()}"
            tip = watch.state.error or ""
            if watch.problem:
                text += " (last known)"
                tip = f"{tip}\n{watch.problem}".strip()
        self.badge.setText(text)
        self.badge.setToolTip(tip)
        self.badge.setStyleSheet(f"QLabel {{ color: {color}; border: 1px solid {color}; border-radius: 4px;"
                                 " padding: 2px 8px; font-weight: bold }")

    # --- user actions --------------------------------------------------------------------------------

    def scroll_to_end(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def copy(self) -> None:
        cursor = self.text.textCursor()
        text = cursor.selection().toPlainText() if cursor.hasSelection() else self.text.toPlainText()
        QGuiApplication.clipboard().setText(text)

    def _fill(self, combo: QComboBox, items: list[str], wanted: str | None) -> bool:
        """Replace the combo's items and select ``wanted`` (if there), without signals; True when its text changed."""
        before = combo.currentText()
        self._filling = True
        try:
            if [combo.itemText(i) for i in range(combo.count())] != items:
                combo.clear()
                combo.addItems(items)
            if wanted in items:
                combo.setCurrentIndex(items.index(wanted))
        finally:
            self._filling = False
        return combo.currentText() != before

    def _on_node_changed(self, _index: int) -> None:
        if not self._filling:
            self.nodeSelected.emit(self.node_combo.currentText())

    def _on_log_changed(self, _index: int) -> None:
        if not self._filling:
            self.logSelected.emit(self.node_combo.currentText(), self.log_combo.currentText())

    def _on_scrolled(self) -> None:
        bar = self.text.verticalScrollBar()
        self.jump_button.setVisible(bar.value() < bar.maximum() - 1)
        self.search.repaint()

    def _on_pause_toggled(self, paused: bool) -> None:
        if not paused and self.held:
            lines = list(self.held)
            self.held.clear()
            self.append_lines(lines)
        self._update_pause_text()

    def _update_pause_text(self) -> None:
        if self.pause_button.isChecked():
            self.pause_button.setText(f"Resume ({len(self.held)} new)" if self.held else "Resume")
        else:
            self.pause_button.setText("Pause")

    def _on_search_timer(self) -> None:
        if self.search_box.text() != self.search.query:
            self.search.set_query(self.search_box.text())
        else:
            self.search.refresh()

    def _on_search_next(self) -> None:
        if self.search_box.text() != self.search.query:
            self._search_timer.stop()
            self.search.set_query(self.search_box.text())
        else:
            self.search.next()

    def _on_matches_changed(self, current: int, total: int, capped: bool) -> None:
        if not self.search.query:
            self.match_label.setText("")
        elif total == 0:
            self.match_label.setText("no match")
        else:
            self.match_label.setText(f"{current} / {total}{'+' if capped else ''}")
