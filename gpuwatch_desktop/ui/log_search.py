"""Find in a log: every match highlighted (up to a cap), next/previous with wrap-around, "3 / 17" counts.

Case-insensitive plain text. Works on a ``QPlainTextEdit`` whose text keeps growing: ``refresh()`` (after
new lines) finds the matches again without moving the current one.
"""

from __future__ import annotations

import bisect

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

MAX_MATCHES = 5000  # counted; beyond it the count reads "5000+"
NEAR_LINES = 200  # matches this many lines above and below the screen are highlighted too


class LogSearch(QObject):
    """The search state of one text view. ``matchesChanged(current, total, capped)``: current is 1-based (0: none)."""

    matchesChanged = Signal(int, int, bool)

    def __init__(self, text: QPlainTextEdit, highlight: str, current: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.query = ""
        self.starts: list[int] = []  # document positions of the matches, in order
        self.current = -1  # index into starts of the selected match
        self.capped = False
        self._all_format = _background(highlight)
        self._current_format = _background(current)

    def set_query(self, query: str) -> None:
        """Search for ``query`` ("" clears); the first match at or after the cursor becomes current."""
        self.query = query
        self.starts, self.capped = self._find_all()
        self.current = -1
        if self.starts:
            self._select(self._index_from(self._text.textCursor().selectionStart(), forward=True))
        else:
            self._paint()

    def refresh(self) -> None:
        """Find every match again (the text changed); the current one stays current."""
        previous = self.starts[self.current] if 0 <= self.current < len(self.starts) else None
        self.starts, self.capped = self._find_all()
        if previous is not None and self.starts:
            self.current = min(bisect.bisect_left(self.starts, previous), len(self.starts) - 1)
        else:
            self.current = -1
        self._paint()

    def next(self) -> None:
        self._step(forward=True)

    def previous(self) -> None:
        self._step(forward=False)

    def _step(self, forward: bool) -> None:
        if not self.starts:
            return
        if self.current < 0:
            index = self._index_from(self._text.textCursor().position(), forward)
        else:
            index = (self.current + (1 if forward else -1)) % len(self.starts)
        self._select(index)

    def _index_from(self, position: int, forward: bool) -> int:
        """The first match at/after ``position`` (forward) or before it, wrapping around."""
        if forward:
            index = bisect.bisect_left(self.starts, position)
            return index if index < len(self.starts) else 0
        index = bisect.bisect_left(self.starts, position) - 1
        return index if index >= 0 else len(self.starts) - 1

    def _select(self, index: int) -> None:
        self.current = index
        cursor = QTextCursor(self._text.document())
        cursor.setPosition(self.starts[index])
        cursor.setPosition(self.starts[index] + len(self.query), QTextCursor.MoveMode.KeepAnchor)
        self._text.setTextCursor(cursor)
        self._text.centerCursor()
        self._paint()

    def _find_all(self) -> tuple[list[int], bool]:
        """Match positions (at most MAX_MATCHES) and whether there are more."""
        if not self.query:
            return [], False
        text, query = self._text.toPlainText(), self.query
        folded, folded_query = text.lower(), query.lower()
        same_positions = len(folded) == len(text) and len(folded_query) == len(query) and (
            text.isascii() or len(text.encode("utf-16-le")) == 2 * len(text))  # Qt counts UTF-16 units
        if not same_positions:
            return self._find_all_in_document()
        starts: list[int] = []
        position = folded.find(folded_query)
        while position >= 0 and len(starts) < MAX_MATCHES:
            starts.append(position)
            position = folded.find(folded_query, position + len(folded_query))
        return starts, position >= 0

    def _find_all_in_document(self) -> tuple[list[int], bool]:
        """Slower, but exact where lower-casing changes lengths or the text has characters beyond UTF-16's BMP."""
        document = self._text.document()
        starts: list[int] = []
        cursor = QTextCursor(document)
        flags = QTextDocument.FindFlag(0)
        while len(starts) < MAX_MATCHES:
            cursor = document.find(self.query, cursor, flags)
            if cursor.isNull():
                return starts, False
            starts.append(cursor.selectionStart())
        return starts, not document.find(self.query, cursor, flags).isNull()

    def repaint(self) -> None:
        """Highlight the matches around what is on screen (call after scrolling)."""
        if self.starts:
            self._paint()

    def _paint(self) -> None:
        """Highlights for the matches on and near the screen only: thousands of them would stall the GUI."""
        selections: list[QTextEdit.ExtraSelection] = []
        document = self._text.document()
        first = self._text.firstVisibleBlock().blockNumber()
        lines = self._text.viewport().height() // max(1, self._text.fontMetrics().lineSpacing())
        low = document.findBlockByNumber(max(0, first - NEAR_LINES)).position()
        high_block = document.findBlockByNumber(first + lines + NEAR_LINES)
        high = high_block.position() if high_block.isValid() else document.characterCount()
        for index in range(bisect.bisect_left(self.starts, low), bisect.bisect_right(self.starts, high)):
            start = self.starts[index]
            selection = QTextEdit.ExtraSelection()
            cursor = QTextCursor(document)
            cursor.setPosition(start)
            cursor.setPosition(min(start + len(self.query), document.characterCount() - 1),
                               QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selection.format = self._current_format if index == self.current else self._all_format
            selections.append(selection)
        self._text.setExtraSelections(selections)
        self.matchesChanged.emit(self.current + 1, len(self.starts), self.capped)


def _background(color: str) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setBackground(QColor(color))
    return fmt
