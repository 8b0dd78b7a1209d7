"""Search in a log view: positions right whatever the characters, every match counted, few highlighted."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.ui.log_search import MAX_MATCHES, LogSearch


def make(qtbot: QtBot, text: str) -> tuple[QPlainTextEdit, LogSearch]:
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    edit.resize(600, 300)
    edit.show()
    edit.setPlainText(text)
    return edit, LogSearch(edit, "#444400", "#aa8800")


def test_matches_are_found_exactly_beside_wide_and_case_changing_characters(qtbot: QtBot) -> None:
    edit, search = make(qtbot, "😀 İstanbul ERROR one\nplain line\nß 🚀🚀 error two\nError three")
    search.set_query("error")
    assert len(search.starts) == 3 and not search.capped
    found = []
    for _ in range(3):
        found.append(edit.textCursor().selectedText())
        search.next()
    assert found == ["ERROR", "error", "Error"]
    assert edit.textCursor().selectedText() == "ERROR", "wrapped around"


def test_the_count_is_capped_and_only_matches_near_the_screen_are_highlighted(qtbot: QtBot) -> None:
    edit, search = make(qtbot, "\n".join(f"hit {i}" for i in range(MAX_MATCHES + 10)))
    counts: list[tuple[int, int, bool]] = []
    search.matchesChanged.connect(lambda current, total, capped: counts.append((current, total, capped)))
    search.set_query("hit")
    assert counts[-1] == (1, MAX_MATCHES, True)
    assert 0 < len(edit.extraSelections()) < 1000
    search.previous()
    assert counts[-1] == (MAX_MATCHES, MAX_MATCHES, True)
    assert edit.textCursor().block().text() == f"hit {MAX_MATCHES - 1}"
    assert any(s.cursor.block().text() == f"hit {MAX_MATCHES - 1}" for s in edit.extraSelections())
