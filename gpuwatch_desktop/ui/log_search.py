"""Find in a log: every match highlighted (up to a cap), next/previous with wrap-around, "3 / 17" counts.

Case-insensitive plain text. Works on a ``QPlainTextEdit`` whose text keeps growing: ``refresh()`` (after
new lines) finds the matches again without moving the current one.
"""

from __future__ import annotations

import bisect

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

MAX_MATCHES = 5000  # highlighted and counted; beyond it the count reads "5000+"


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
        self.refresh(keep_current=False)
        if self.starts:
            self._select(self._index_from(self._text.textCursor().selectionStart(), forward=True))

    def refresh(self, keep_current: bool = True) -> None:
        """Find every match again (the text changed)."""
        previous = self.starts[self.current] if keep_current and 0 <= self.current < len(self.starts) else None
        self.starts, self.capped = self._find_all()
        if previous is not None and self.starts:
            self.current = min(bisect.bisect_left(self.starts, previous), len(self.starts) - 1)
        elif not keep_current or not self.starts:
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
        if not self.query:
            return [], False
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

    def _paint(self) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        document = self._text.document()
        for index, start in enumerate(self.starts):
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
