"""The chat's message list: user and assistant bubbles, tool steps (collapsible), notices (``chat_items``), in
order; a stored conversation shown as it was.

While an answer streams it is re-rendered at most every ``RENDER_INTERVAL_MS``, and never more often than
``RENDER_SHARE`` of the GUI thread allows: a long answer (markdown + Qt layout take longer as it grows, ~30 ms at
3 KB, see bench/chat_render.py) is re-rendered less often instead of slowing the window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from gpuwatch_desktop.ui.chat_items import AnswerBrowser, MessageBubble, NoticeView, ToolStepView
from gpuwatch_desktop.ui.theme import Theme

if TYPE_CHECKING:  # storage (peewee, SQLite) is imported after the window's first frame
    from gpuwatch_desktop.storage import StoredMessage, ToolStep

RENDER_INTERVAL_MS = 100
RENDER_SHARE = 0.25  # at most this share of the GUI thread goes to re-rendering a streaming answer
EMPTY_TEXT = "Ask about your cluster's GPUs, alerts or jobs — or pick a quick prompt below."

__all__ = ["RENDER_INTERVAL_MS", "AnswerBrowser", "ChatView", "MessageBubble", "NoticeView", "ToolStepView"]


class ChatView(QScrollArea):
    """The conversation shown: bubbles, steps and notices in order. ``show_partial_answer`` is throttled."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        self._column = QVBoxLayout(inner)
        self._column.setContentsMargins(6, 6, 6, 6)
        self._column.setSpacing(6)
        self._column.addStretch(1)
        self.placeholder = QLabel(EMPTY_TEXT)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"color: {theme.muted}; padding: 24px")
        self._column.addWidget(self.placeholder)
        self._column.addStretch(1)
        self.setWidget(inner)
        self.steps: dict[str, ToolStepView] = {}
        self._answer: MessageBubble | None = None  # the answer being streamed
        self._pending: str | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._on_render_timer)
        self._follow = True  # keep the newest item in view until the user scrolls up
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range_changed)
        bar.valueChanged.connect(self._on_scrolled)
        self.renders = 0  # answer renders while streaming (for tests and the throttle's figure)

    def sizeHint(self) -> QSize:
        return QSize(420, 600)

    # ---- items ---------------------------------------------------------------------------

    def items(self) -> list[QWidget]:
        """The shown items in order (bubbles, steps, notices)."""
        found = (self._column.itemAt(i) for i in range(self._column.count()))
        widgets = (item.widget() for item in found if item is not None)
        return [w for w in widgets if w is not None and w is not self.placeholder]

    def bubbles(self, role: str | None = None) -> list[MessageBubble]:
        return [w for w in self.items() if isinstance(w, MessageBubble) and role in (None, w.role)]

    def notices(self) -> list[NoticeView]:
        return [w for w in self.items() if isinstance(w, NoticeView)]

    def _add(self, widget: QWidget) -> None:
        self.placeholder.hide()
        self._column.insertWidget(self._column.count() - 3, widget)  # above the placeholder and its stretches

    def clear(self) -> None:
        self.end_answer()
        for widget in self.items():
            widget.setParent(None)
            widget.deleteLater()
        self.steps.clear()
        self._follow = True
        self.placeholder.show()

    def add_user(self, text: str) -> MessageBubble:
        self.end_answer()
        bubble = MessageBubble("user", self._theme)
        bubble.set_text(text)
        self._add(bubble)
        self._follow = True
        return bubble

    def add_answer(self, text: str) -> MessageBubble:
        self.end_answer()
        bubble = MessageBubble("assistant", self._theme)
        bubble.set_text(text)
        self._add(bubble)
        return bubble

    def add_step(self, call_id: str, name: str, arguments: str) -> ToolStepView:
        self.end_answer()  # text after this step goes into a new bubble, as it is stored
        view = ToolStepView(call_id, name, arguments, self._theme)
        self.steps[call_id] = view
        self._add(view)
        return view

    def finish_step(self, call_id: str, step: ToolStep, result: str) -> None:
        view = self.steps.get(call_id) or self.add_step(call_id, step.name, step.arguments)
        view.finish(step, result)

    def stop_steps(self) -> None:
        for view in self.steps.values():
            view.stop()

    def add_notice(self, text: str, level: str = "error") -> NoticeView:
        self.end_answer()
        notice = NoticeView(text, level, self._theme)
        self._add(notice)
        return notice

    # ---- streaming -----------------------------------------------------------------------

    def show_partial_answer(self, text: str) -> None:
        """The answer so far; rendered now if nothing was rendered in the last interval, else when it ends."""
        if self._answer is None:
            self._answer = self.add_answer("")
        self._pending = text
        if not self._render_timer.isActive():
            self._render_pending()
            self._render_timer.start()

    def _on_render_timer(self) -> None:
        if self._pending is not None:
            self._render_pending()
            self._render_timer.start()

    def _render_pending(self) -> None:
        if self._answer is not None and self._pending is not None:
            started = time.perf_counter()
            self._answer.set_text(self._pending)
            self.renders += 1
            spent_ms = (time.perf_counter() - started) * 1000
            self._render_timer.setInterval(max(RENDER_INTERVAL_MS, round(spent_ms / RENDER_SHARE)))
        self._pending = None

    def end_answer(self, text: str | None = None) -> None:
        """Finish the streamed answer (with its whole ``text`` when given); the next text starts a new bubble."""
        if text is not None:
            if self._answer is None:
                self._answer = self.add_answer("")
            self._pending = text
        self._render_pending()
        self._render_timer.stop()
        if self._answer is not None and not self._answer.text.strip():
            self._answer.setParent(None)  # a bubble that never got any text
            self._answer.deleteLater()
        self._answer = None

    @property
    def streaming(self) -> bool:
        return self._answer is not None

    # ---- a stored conversation -----------------------------------------------------------

    def show_messages(self, messages: Sequence[StoredMessage]) -> None:
        """Show a stored conversation as it was shown when it was recorded."""
        from gpuwatch_desktop.storage import ToolStep

        self.clear()
        calls: dict[str, tuple[str, str]] = {}  # call id -> (name, arguments) from the assistant's tool_calls
        for stored in messages:
            message = stored.message
            role, content = message.get("role"), message.get("content")
            text = content if isinstance(content, str) else ""
            if role == "user":
                self.add_user(text)
            elif role == "assistant":
                calls |= _tool_calls(message)
                if text.strip():
                    self.add_answer(text)
            elif role == "tool":
                call_id = str(message.get("tool_call_id", ""))
                name, arguments = calls.get(call_id, ("tool", ""))
                step = stored.step or ToolStep(name, arguments, text.split("\n", 1)[0][:80], 0.0, True)
                self.add_step(call_id, step.name, step.arguments).finish(step, text)
            elif role == "notice":
                self.add_notice(text, str(message.get("level", "error")))
        self.end_answer()

    # ---- following the newest item -------------------------------------------------------

    def _on_scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 4

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)


def _tool_calls(message: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            found[str(call.get("id", ""))] = (str(function.get("name", "tool")), str(function.get("arguments", "")))
    return found
