"""Untrusted feed text made safe to show: one line, no control characters, only http(s) links.

Escaping itself is Jinja2's job (autoescape); this module decides what a value *is* (a line of
text, a link or not a link, an excerpt) so that no template has to.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

# C0/C1 controls, and the bidi/invisible formatting characters that let a title disguise itself
# ("Trusted News" rendered right-to-left from other bytes). Tabs and line breaks become spaces.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)]))\s+(?=[\"'“‘(\[]?[A-Z0-9])")
# A full stop after these is not the end of a sentence ("U.S. chip curbs", "Mr. Liang").
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Inc|Corp|Co|Ltd|St|vs|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
    r"|Sep|Sept|Oct|Nov|Dec))\.$"
)
# WordPress and friends append this to every summary; it is never part of the story.
_FEED_FOOTER = re.compile(r"\s*The post .{1,300}? appeared first on .{1,200}$", re.S)
_SAFE_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f<>\"'`\\]+$", re.I)
MAX_URL = 2048


def single_line(value: str | None, limit: int = 300) -> str:
    """One line of visible text, at most `limit` characters (cut at a word, with an ellipsis)."""
    if not value:
        return ""
    text = _SPACE.sub(" ", _INVISIBLE.sub("", value.replace("\t", " "))).strip()
    return shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def safe_url(value: str | None) -> str | None:
    """The URL when it may become a link: http(s) with a host, nothing hidden; else None.

    Browsers drop embedded tabs/newlines and leading controls before reading the scheme, so
    "java\\nscript:" would run; refusing any whitespace or control character anywhere (instead
    of stripping it) leaves nothing to reinterpret.
    """
    if not value or len(value) > MAX_URL or not _SAFE_URL.match(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def host_of(url: str | None) -> str:
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


class _TextCollector(HTMLParser):
    """Collects the text of an HTML fragment; script/style content is not text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(value: str) -> str:
    """Plain text of a feed summary, which may be HTML, escaped HTML or plain text."""
    if "<" not in value and "&" not in value:
        return value
    collector = _TextCollector()
    collector.feed(value)
    collector.close()
    text = "".join(collector.parts)
    # Summaries escaped twice ("&lt;p&gt;") come out as tags once more: strip one level again.
    if "<" in text and re.search(r"</?[a-zA-Z][^>]*>", text):
        return strip_html(text)
    return html.unescape(text) if "&" in text else text


def excerpt(summary: str, text_head: str, limit: int = 360) -> str:
    """Two or three sentences: from the feed summary, or the article text when that is thin."""
    source = single_line(_FEED_FOOTER.sub("", strip_html(summary)), 10_000)
    if len(source) < 80:
        body = single_line(text_head, 10_000)
        if len(body) > len(source):
            source = body
    sentences = split_sentences(source)
    chosen = ""
    for count, sentence in enumerate(sentences, start=1):
        candidate = f"{chosen} {sentence}".strip()
        if chosen and (len(candidate) > limit or count > 3):
            break
        chosen = candidate
        if count >= 2 and len(chosen) >= limit // 2:
            break
    return shorten(chosen, limit)


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text, 0, match.start()):
            continue
        sentences.append(text[start : match.start()])
        start = match.end()
    sentences.append(text[start:])
    return [s for s in sentences if s]
