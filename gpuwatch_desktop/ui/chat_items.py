"""The items of the chat's message list: answers rendered from markdown (``AnswerBrowser`` in a ``MessageBubble``
with a copy button), questions, tool steps that expand to their arguments and result, and notices.

Links in answers open only on click, in the system browser, and only http(s) ones.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gpuwatch_desktop.ui.markdown_render import document_css, is_safe_link, render_markdown
from gpuwatch_desktop.ui.theme import Theme

if TYPE_CHECKING:  # storage (peewee, SQLite) is imported after the window's first frame
    from gpuwatch_desktop.storage import ToolStep

DETAIL_LINES = 12  # a step's details show this many lines at most (they scroll)


class AnswerBrowser(QTextBrowser):
    """Rendered markdown as tall as its text (the list scrolls, not each answer); loads no resources."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDefaultStyleSheet(document_css(theme))
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.horizontalScrollBar().rangeChanged.connect(self._fit)
        self.anchorClicked.connect(self._on_anchor_clicked)
        self.markdown = ""
        self.setFixedHeight(24)

    def show_markdown(self, text: str) -> None:
        self.markdown = text
        self.setHtml(render_markdown(text, self._theme.name))

    def loadResource(self, kind: int, name: QUrl | str) -> Any:
        return None  # never fetch images or style sheets, local or remote

    def _fit(self) -> None:
        height = int(self.document().size().height()) + 2 * self.frameWidth() + 2
        if self.horizontalScrollBar().maximum() > 0:
            height += self.horizontalScrollBar().sizeHint().height()
        if height != self.height():
            self.setFixedHeight(height)

    def _on_anchor_clicked(self, url: QUrl) -> None:
        if is_safe_link(url.toString()):
            QDesktopServices.openUrl(url)


class MessageBubble(QFrame):
    """A user question (plain text) or an assistant answer (markdown, with a copy button)."""

    def __init__(self, role: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName("chatBubble")
        back = theme.tile if role == "user" else theme.base
        self.setStyleSheet(f"#chatBubble {{ background: {back}; border: 1px solid {theme.tile}; border-radius: 6px; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.setSpacing(2)
        head = QHBoxLayout()
        who = QLabel("You" if role == "user" else "Assistant")
        who.setStyleSheet(f"color: {theme.muted}; font-weight: bold")
        head.addWidget(who)
        head.addStretch(1)
        layout.addLayout(head)
        self.copy_button: QToolButton | None = None
        self.text_label: QLabel | None = None
        self.browser: AnswerBrowser | None = None
        if role == "user":
            self.text_label = QLabel()
            self.text_label.setTextFormat(Qt.TextFormat.PlainText)
            self.text_label.setWordWrap(True)
            self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(self.text_label)
        else:
            self.browser = AnswerBrowser(theme)
            self.copy_button = QToolButton()
            self.copy_button.setText("Copy")
            self.copy_button.setToolTip("Copy this answer (markdown)")
            self.copy_button.setAutoRaise(True)
            self.copy_button.clicked.connect(self._on_copy_clicked)
            head.addWidget(self.copy_button)
            layout.addWidget(self.browser)

    @property
    def text(self) -> str:
        """What the bubble holds: the question, or the answer's markdown."""
        if self.browser is not None:
            return self.browser.markdown
        return self.text_label.text() if self.text_label is not None else ""

    def set_text(self, text: str) -> None:
        if self.browser is not None:
            self.browser.show_markdown(text)
        elif self.text_label is not None:
            self.text_label.setText(text)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.text)


def _pretty(text: str, empty: str = "") -> str:
    """JSON indented for reading; anything else (plain text, invalid JSON from the model) as it came."""
    if not text.strip():
        return empty
    try:
        return json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    except ValueError:
        return text


class _ClickableLabel(QLabel):
    clicked = Signal()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class ToolStepView(QFrame):
    """One tool call: an arrow and a header (wrapped when narrow; click either to expand) and the arguments and
    result below them."""

    def __init__(self, call_id: str, name: str, arguments: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.call_id, self.name, self.arguments = call_id, name, arguments
        self._theme = theme
        self.step: ToolStep | None = None  # set once finished
        self.state = "running"  # running, ok, error, stopped
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(2)
        self.header = QToolButton()
        self.header.setCheckable(True)
        self.header.setAutoRaise(True)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setToolTip("Show the arguments and the result")
        self.header.toggled.connect(self._on_header_toggled)
        self.title = _ClickableLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self.title.clicked.connect(self.header.toggle)
        row = QHBoxLayout()
        row.setSpacing(2)
        row.addWidget(self.header, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.title, 1)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setVisible(False)
        layout.addLayout(row)
        layout.addWidget(self.details)
        self._result = ""
        self._plain = ""
        self._refresh()

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    @property
    def header_text(self) -> str:
        """The header as plain text: mark, name, summary, duration, "cached"."""
        return self._plain

    def finish(self, step: ToolStep, result: str) -> None:
        self.step, self._result = step, result
        self.state = "ok" if step.ok else "error"
        self._refresh()

    def stop(self) -> None:
        """The run ended before this call finished."""
        if self.state == "running":
            self.state = "stopped"
            self._refresh()

    def _refresh(self) -> None:
        mark, color = {"running": ("…", self._theme.accent), "ok": ("✓", self._theme.muted),
                       "error": ("✗", self._theme.crit), "stopped": ("■", self._theme.muted)}[self.state]
        parts: list[str] = []
        if self.step is not None:
            parts += [self.step.summary, f"{self.step.duration_ms:.0f} ms"]
            if self.step.cached:
                parts.append("cached")
        elif self.state == "running":
            parts.append("running")
        else:
            parts.append("stopped before it finished")
        parts = [p for p in parts if p]
        self._plain = "  ·  ".join([f"{mark} {self.name}", *parts])
        rest = html.escape("  ·  ".join(parts))
        self.title.setText(f'<span style="color: {color}">{mark}</span> <b>{html.escape(self.name)}</b>'
                           f'<span style="color: {self._theme.muted}">&nbsp;&nbsp;·&nbsp;&nbsp;{rest}</span>')
        text = f"arguments: {_pretty(self.arguments, '{}')}\n\nresult:\n{_pretty(self._result, '(none yet)')}"
        self.details.setPlainText(text)
        lines = min(text.count("\n") + 1, DETAIL_LINES)
        chrome = 2 * self.details.frameWidth() + 2 * int(self.details.document().documentMargin()) + 2
        self.details.setFixedHeight(lines * self.details.fontMetrics().lineSpacing() + chrome)

    def _on_header_toggled(self, shown: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.details.setVisible(shown)


class NoticeView(QLabel):
    """A failure (what failed, what to do) or a note, in a coloured box."""

    def __init__(self, text: str, level: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = level
        color = theme.crit if level == "error" else theme.accent
        self.setObjectName("chatNotice")
        self.setStyleSheet(f"#chatNotice {{ border-style: solid; border-color: {color}; border-width: 0 0 0 3px;"
                           " padding: 4px 8px; }")  # a bare border-left draws nothing on a QLabel
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(html.escape(text).replace("\n", "<br>"))
        self.plain_text = text
