"""Documents given on the command line (`inspect`, `compare`): a file, a URL or stdin."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from monitor.config.load import Settings
from monitor.errors import FetchError, UsageError
from monitor.extract.page import detect_language, extract_article
from monitor.extract.seeds import guess_title
from monitor.net.fetch import Fetcher
from monitor.net.urls import is_http_url


@dataclass(frozen=True)
class Document:
    title: str
    text: str
    url: str | None = None
    language: str | None = None


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in data[:4096].lower()


def document_from_bytes(
    data: bytes, url: str | None, is_html: bool, settings: Settings, title: str | None = None
) -> Document:
    if is_html:
        extracted = extract_article(data, url, settings.extract.mode)
        if extracted is None:
            raise UsageError(f"{url or 'input'}: no article text found in this HTML")
        return Document(
            title or extracted.title or guess_title(extracted.text),
            extracted.text,
            url,
            extracted.language,
        )
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise UsageError(f"{url or 'input'}: the document is empty")
    lines = text.split("\n", 1)
    if title is None and len(lines) == 2 and len(lines[0]) <= 200 and not lines[0].endswith("."):
        title, text = lines[0].strip(), lines[1].strip()  # a first short line is the headline
    return Document(title or guess_title(text), text, url, detect_language(text))


def read_document(spec: str, settings: Settings) -> Document:
    """Read `spec`: `-` (stdin), an http(s) URL (fetched through the guarded fetcher), or a path."""
    if spec == "-":
        data = sys.stdin.buffer.read()
        return document_from_bytes(data, None, _looks_like_html(data), settings)
    if is_http_url(spec):
        with Fetcher(settings.fetch) as fetcher:
            try:
                resp = fetcher.get(spec)
            except FetchError as exc:
                raise UsageError(f"cannot fetch {spec}: {exc.message}") from None
        return document_from_bytes(resp.content, resp.url, True, settings)
    path = Path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{spec}: cannot read: {exc.strerror or exc}") from None
    is_html = path.suffix.lower() in (".html", ".htm") or _looks_like_html(data)
    return document_from_bytes(data, None, is_html, settings)
