"""Model answers (markdown) to the HTML subset Qt's rich-text views show, with nothing the model writes able to
act: raw HTML is escaped (shown as text), links keep only http(s) targets, images are never loaded.

Tables, fenced code (highlighted by Pygments with inline colours, which Qt understands), lists and the usual
inline markup render as HTML. Links are only shown here; the view opens them on click (``is_safe_link``).
"""

from __future__ import annotations

import xml.etree.ElementTree as etree
from functools import cache
from urllib.parse import urlsplit

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from gpuwatch_desktop.ui.theme import Theme

SAFE_SCHEMES = ("http", "https")
PYGMENTS_STYLES = {"dark": "github-dark", "light": "default"}


def is_safe_link(url: str) -> bool:
    """Whether a link may be opened (in the system browser): an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.hostname)


class _InertTree(Treeprocessor):
    """Links without an http(s) target become plain text; images become a link (or text) naming them; tables
    get borders Qt draws."""

    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            if element.tag == "a":
                href = element.get("href", "")
                element.attrib.clear()
                if is_safe_link(href):
                    element.set("href", href.strip())
                else:
                    element.tag = "span"
            elif element.tag == "img":
                self._image_to_link(element)
            elif element.tag == "table":
                element.attrib.update({"border": "1", "cellspacing": "0", "cellpadding": "5"})

    @staticmethod
    def _image_to_link(element: etree.Element) -> None:
        src, alt = element.get("src", ""), element.get("alt", "") or "image"
        element.attrib.clear()
        element.text = f"[image: {alt}]"
        if is_safe_link(src):
            element.tag = "a"
            element.set("href", src.strip())
        else:
            element.tag = "span"


class _NoRawHtml(Extension):
    """Raw HTML blocks and inline tags are left to the text escaper (shown, never interpreted)."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_InertTree(md), "gpuwatch_inert", 1)  # after inline markup became elements


@cache
def _converter(style: str) -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "codehilite", "sane_lists", _NoRawHtml()],
        extension_configs={"codehilite": {"noclasses": True, "guess_lang": False, "pygments_style": style}},
        output_format="html",
    )


def render_markdown(text: str, theme_name: str = "dark") -> str:
    """An HTML fragment for ``text`` (markdown); raw HTML in it comes out escaped."""
    md = _converter(PYGMENTS_STYLES.get(theme_name, PYGMENTS_STYLES["dark"]))
    try:
        html = md.reset().convert(text)
    finally:
        md.reset()
    return html.replace("\n</code></pre>", "</code></pre>")  # Qt would show the code's last newline as a blank line


def document_css(theme: Theme) -> str:
    """The default style sheet for a document showing rendered answers in ``theme``."""
    return (
        f"a {{ color: {theme.accent}; }}"
        f"code {{ font-family: monospace; background-color: {theme.tile}; }}"
        f"pre {{ font-family: monospace; white-space: pre-wrap; background-color: {theme.window}; margin-top: 4px;"
        " margin-bottom: 6px; }"
        f"table {{ border-collapse: collapse; border-color: {theme.muted}; border-style: solid; margin-top: 4px;"
        " margin-bottom: 6px; }"
        f"th {{ background-color: {theme.tile}; font-weight: bold; }}"
        "p { margin-top: 2px; margin-bottom: 6px; }"
        "ul, ol { margin-top: 0; margin-bottom: 6px; }"
        "h1, h2, h3, h4 { margin-top: 6px; margin-bottom: 4px; }"
    )
