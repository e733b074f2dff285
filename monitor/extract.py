"""Extract an article's text and metadata from page HTML (trafilatura). Pure: bytes in."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

_LANG_ATTR = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([a-zA-Z]{2,3})", re.IGNORECASE)


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None
    author: str | None
    published: datetime | None
    site_name: str | None
    language: str | None
    canonical_url: str | None  # the page's own <link rel=canonical>/og:url, when it has one


def detect_language(text: str, html: bytes | None = None) -> str | None:
    """The page's declared language, or a guess from the text (py3langid, offline)."""
    if html is not None:
        match = _LANG_ATTR.search(html[:4096])
        if match:
            return match.group(1).decode("ascii").lower()
    if len(text) < 40:
        return None
    import py3langid  # imported on first use: the polling process may never need it

    lang, _score = py3langid.classify(text[:2000])
    return str(lang)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


def extract_article(html: bytes, url: str | None = None, mode: str = "fast") -> Extracted | None:
    """Main text (no comments) and metadata; None when trafilatura finds no article."""
    import trafilatura  # imported on first use: it runs in the extraction processes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lxml FutureWarnings from inside trafilatura
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            fast=mode == "fast",
            favor_precision=mode == "precision",
            favor_recall=mode == "recall",
        )
    if doc is None or isinstance(doc, dict) or not doc.text:
        return None
    text = str(doc.text).strip()
    return Extracted(
        text=text,
        title=doc.title or None,
        author=doc.author or None,
        published=_date(doc.date),
        site_name=doc.sitename or None,
        language=detect_language(text, html),
        canonical_url=doc.url or None,
    )
