"""Extract an article's text and metadata from page HTML (trafilatura). Pure: bytes in."""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trafilatura.settings import Document

# What language identification reads (the same as the dedup features': see there).
LANGUAGE_CHARS = 1000
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

    lang, _score = py3langid.classify(text[:LANGUAGE_CHARS])
    return str(lang)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


def extract_article(
    html: bytes, url: str | None = None, mode: str = "fast", *, want_date: bool = True
) -> Extracted | None:
    """Main text (no comments) and the page's metadata; None when trafilatura finds no
    article. `want_date=False` skips the search for a date in the page (the feed gave one)."""
    import trafilatura  # imported on first use: it runs in the extraction processes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lxml FutureWarnings from inside trafilatura
        tree = trafilatura.load_html(html)
        if tree is None:
            return None
        meta = page_metadata(tree, url, want_date)
        # bare_extraction works on its own copy of the tree.
        doc = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=False,
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
        title=meta.title or None,
        author=meta.author or None,
        published=_date(meta.date),
        site_name=meta.sitename or None,
        language=detect_language(text, html),
        canonical_url=meta.url or None,
    )


def page_metadata(tree: Any, url: str | None, want_date: bool) -> Document:
    """Title, author, site name, canonical URL and date from the page's own declarations
    (meta tags, OpenGraph, JSON-LD), as trafilatura reads them, with the title element and
    htmldate as fallbacks.

    trafilatura's full `extract_metadata` also guesses authors from the body and reads
    categories, tags and licences: six times the cost, for fields a feed mostly gives
    (feeds come first for title, author and date)."""
    from htmldate import find_date
    from trafilatura.metadata import (
        examine_meta,
        extract_meta_json,
        extract_sitename,
        extract_title,
        extract_url,
    )

    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # a bare handle, as trafilatura judges it
    # trafilatura's JSON-LD reader has its own bugs: on one, the meta tags stay.
    with contextlib.suppress(Exception):
        meta = extract_meta_json(tree, meta)
    if not meta.title:
        meta.title = extract_title(tree)
    if not meta.url:
        meta.url = extract_url(tree, url)
    if want_date:
        meta.date = find_date(tree, url=meta.url, original_date=True, extensive_search=False)
    if not meta.sitename:
        meta.sitename = extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    meta.clean_and_trim()
    return meta
