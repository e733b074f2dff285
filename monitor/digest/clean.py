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
    if space > limit // 3 and not text[limit - 1].isspace():
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


# Sentences that are about the site, not the story: the snippet skips them. Narrow on purpose:
# a story about cookies or newsletters keeps its sentences.
_BOILERPLATE = re.compile(
    r"\bis a (?:service|publication|product|division) of\b|\ball rights reserved\b|©|^copyright\b"
    r"|\b(?:subscribe|sign up|register)\b.{0,40}\b(?:newsletter|to continue|to read|for free)\b"
    r"|\b(?:we|this (?:web)?site) uses? cookies\b|\bcookie (?:policy|settings|preferences)\b"
    r"|\baccept (?:all )?cookies\b|\bclick here\b|^advertisement\b|\bfollow us on\b"
    r"|\b(?:enable|turn on) javascript\b|\bjavascript (?:is )?(?:disabled|required)\b"
    r"|\bthis (?:article|story) (?:was|is) (?:originally )?(?:published|produced|provided)"
    r" (?:by|on|in)\b",
    re.I,
)
# A title cut by its source inside the site name's suffix: "… Large Models - O".
_DANGLING_SUFFIX = re.compile(r"\s+[-–—|:·]\s*\w$")
MIN_EXCERPT = 80  # a summary shorter than this (after cleaning) gives way to the article text


def tidy_title(title: str, limit: int = 200) -> str:
    """A headline on one line, cut at a word with an ellipsis, also when its source cut it."""
    text = single_line(title, limit)
    if _DANGLING_SUFFIX.search(text):
        text = _DANGLING_SUFFIX.sub("", text).rstrip(" ,;:-") + "…"
    return text


def excerpt(summary: str, text_head: str, limit: int = 360, title: str = "") -> str:
    """Two or three sentences: from the feed summary, or the article text when that is thin.

    Sentences about the site (a copyright line, "X is a service of Y", a newsletter plea) are
    skipped, and so is a leading repeat of the story's own title.
    """
    summary_text = _real_text(single_line(_FEED_FOOTER.sub("", strip_html(summary)), 10_000), title)
    source = summary_text
    if len(source) < MIN_EXCERPT:
        body = _real_text(single_line(text_head, 10_000), title)
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


def _real_text(text: str, title: str) -> str:
    """`text` without a leading repeat of `title` and without boilerplate sentences."""
    text = strip_title(text, title)
    sentences = split_sentences(text)
    kept = [s for s in sentences if not _BOILERPLATE.search(s)]
    return text if len(kept) == len(sentences) else " ".join(kept)


def strip_title(text: str, title: str) -> str:
    """Drop the headline when the text opens with it (extracted text often does), also after
    a short kicker ("Tech | Title …") and in another case."""
    words = single_line(title, 1000).split()
    if len(words) < 2 or not text:
        return text
    pattern = r"[\s\W]*".join(re.escape(w) for w in words)
    match = re.search(pattern, text[: len(title) + 60], re.I)
    if match is None or match.start() > 40:
        return text
    rest = text[match.end() :].lstrip(" \t-–—:|.,;")
    return rest or text


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
