"""HTML mail to safe plain text. Pure, never raises.

The HTML is first sanitised by nh3 (the Ammonia sanitiser on html5ever, which parses malformed HTML
the way browsers do): scripts, styles and every attribute are removed, only structural tags kept.
The sanitised markup is then turned into text with line breaks where the blocks were, list items as
``- `` lines, and quoted blocks (``<blockquote>``) as ``> `` lines, so that quoted replies in HTML
mail are stripped the same way as in plain-text mail.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

MAX_HTML_CHARS = 2_000_000
"""HTML beyond this is cut before parsing, to bound the work one message can cause."""

_KEPT_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "center", "font", "section", "article",
    "header", "footer", "main", "address",
}  # fmt: skip
_DROPPED_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript", "iframe", "object", "svg", "math"}
_BLOCKS = {
    "p", "div", "table", "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr",
    "center", "section", "article", "header", "footer", "main", "address", "caption", "blockquote", "li",
}  # fmt: skip
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "pre", "hr", "blockquote"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.pre_depth = 0

    def _break(self, paragraph: bool = False) -> None:
        text = "".join(self.current)
        if self.pre_depth == 0:
            text = _SPACES.sub(" ", text).strip()
        self.current = []
        prefix = "> " * self.quote_depth
        if text and text != "-":
            self.lines.extend(prefix + line if prefix else line for line in text.split("\n"))
        if paragraph and self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(prefix.rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break()
        elif tag in _BLOCKS:
            self._break(tag in _PARAGRAPHS)
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "pre":
                self.pre_depth += 1
        elif tag in ("td", "th"):
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._break(tag in _PARAGRAPHS)
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.pre_depth == 0:
            data = data.replace("\n", " ")
        self.current.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def sanitise_html(html: str) -> str:
    """Markup with nothing that could run or load: structural tags only, no attributes."""
    return nh3.clean(
        html[:MAX_HTML_CHARS],
        tags=_KEPT_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes={},
        strip_comments=True,
        link_rel=None,
    )


def html_to_text(html: str) -> str:
    """The readable text of an HTML body."""
    try:
        cleaned = sanitise_html(html)
    except Exception:  # nh3 is robust; this guards the promise that normalising never raises
        cleaned = re.sub(r"<[^>]*>", " ", html[:MAX_HTML_CHARS])
    collector = _TextCollector()
    try:
        collector.feed(cleaned)
        collector.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", cleaned)
    return collector.text()
