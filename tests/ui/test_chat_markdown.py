"""Answers rendered from markdown: tables and highlighted code render, raw HTML comes out as inert text, links
open only on a click and only http(s) ones, and nothing is loaded from anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.ui.chat_items import AnswerBrowser
from gpuwatch_desktop.ui.markdown_render import is_safe_link, render_markdown
from gpuwatch_desktop.ui.theme import DARK

HOSTILE = """Here is the data <script>alert('x')</script> and <img src="x" onerror="alert(1)">.

<a href="javascript:alert(2)">click me</a> or [this](javascript:alert(3)) or [local](file:///etc/passwd)
or ![pixel](https://tracker.example.com/p.png) or [docs](https://docs.nvidia.com/x).

<iframe src="https://evil.example.com"></iframe>

| GPU | Temp |
|---|---:|
| node-b / 3 | 89 °C |

```python
if temp > limit and util < 50:
    print("<throttled>")
```
"""


class Markup(HTMLParser):
    """The elements and attributes of an HTML fragment, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def test_hostile_html_comes_out_as_text_and_the_table_and_code_render() -> None:
    html = render_markdown(HOSTILE)
    markup = Markup(html)
    assert not {"script", "img", "iframe"} & set(markup.tags)
    assert set(markup.tags) >= {"p", "a", "table", "th", "td", "pre", "code", "span"}
    assert not [name for name, _ in markup.attributes if name.startswith("on") or name == "src"]
    assert [value for name, value in markup.attributes if name == "href"] == [
        "https://tracker.example.com/p.png", "https://docs.nvidia.com/x"]
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html
    assert "&lt;img src=\"x\" onerror=\"alert(1)\"&gt;" in html
    assert "<table" in html and "<th>GPU</th>" in html and "89 °C</td>" in html
    assert '<a href="https://docs.nvidia.com/x">docs</a>' in html
    assert '<a href="https://tracker.example.com/p.png">[image: pixel]</a>' in html  # a link, never loaded
    assert "<span>this</span>" in html and "<span>local</span>" in html  # link text kept, target dropped
    assert '<span style="color: #FF7B72">if</span>' in html  # Pygments colours the keywords
    assert "&quot;&lt;throttled&gt;&quot;" in html or '"&lt;throttled&gt;"' in html


def test_the_view_shows_the_escaped_tags_as_text_and_a_real_table(qtbot: QtBot) -> None:
    view = AnswerBrowser(DARK)
    qtbot.addWidget(view)
    view.show_markdown(HOSTILE)
    text = view.toPlainText()
    assert "<script>alert('x')</script>" in text
    assert '<a href="javascript:alert(2)">click me</a>' in text
    tables = [f for f in view.document().rootFrame().childFrames() if f.__class__.__name__ == "QTextTable"]
    assert len(tables) == 1 and (tables[0].rows(), tables[0].columns()) == (2, 2)  # type: ignore[attr-defined]
    assert view.markdown == HOSTILE


@pytest.mark.parametrize(("url", "safe"), [
    ("https://docs.nvidia.com/x", True), ("http://10.0.0.5:9400/metrics", True), ("HTTPS://EXAMPLE.COM", True),
    ("javascript:alert(1)", False), ("file:///etc/passwd", False), ("data:text/html,hi", False),
    ("https://", False), ("/relative", False), ("mailto:a@b.c", False), ("http://[::1", False),
])
def test_only_absolute_http_links_are_safe(url: str, safe: bool) -> None:
    assert is_safe_link(url) is safe


class Opened(QObject):
    """A URL handler registered with QDesktopServices: records what the app asked the system to open."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def record(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def opened() -> Iterator[Opened]:
    handler = Opened()
    for scheme in ("http", "https", "javascript", "file"):
        QDesktopServices.setUrlHandler(scheme, handler, "record")
    yield handler
    for scheme in ("http", "https", "javascript", "file"):
        QDesktopServices.unsetUrlHandler(scheme)


def click_link(qtbot: QtBot, view: AnswerBrowser, text: str) -> None:
    """A real mouse click on the middle of the first occurrence of ``text``."""
    cursor = view.document().find(text)
    assert not cursor.isNull(), text
    middle = QTextCursor(view.document())
    middle.setPosition((cursor.selectionStart() + cursor.selectionEnd()) // 2)
    rect = view.cursorRect(middle)
    point = QPoint(rect.center().x(), rect.center().y())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


@pytest.mark.qt_log_ignore("Mouse event .* not accepted")  # a click on plain text: QTest notes it, nothing else
def test_links_open_in_the_system_browser_only_on_click_and_only_http(qtbot: QtBot, opened: Opened) -> None:
    view = AnswerBrowser(DARK)
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    view.show_markdown("Read [the docs](https://docs.nvidia.com/x), not [that](javascript:alert(1)) "
                       "nor [this](file:///etc/passwd).")
    QApplication.processEvents()
    assert opened.urls == []  # nothing opens by itself
    click_link(qtbot, view, "that")
    click_link(qtbot, view, "this")
    assert opened.urls == []
    click_link(qtbot, view, "the docs")
    assert opened.urls == ["https://docs.nvidia.com/x"]
    assert view.source().isEmpty()  # the view itself never navigated
    # Second line of defence: even a link that got into the document some other way opens only if http(s).
    view.setHtml('<p><a href="javascript:alert(1)">script</a> <a href="file:///etc/passwd">file</a></p>')
    QApplication.processEvents()
    click_link(qtbot, view, "script")
    click_link(qtbot, view, "file")
    assert opened.urls == ["https://docs.nvidia.com/x"]


def test_the_view_loads_no_resources(qtbot: QtBot) -> None:
    view = AnswerBrowser(DARK)
    qtbot.addWidget(view)
    assert view.loadResource(2, QUrl("file:///etc/hostname")) is None  # 2: QTextDocument.ImageResource
