"""OPML in and out (pure): outlines with xmlUrl become feeds; feeds become outlines."""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from monitor.config.sections import FeedConfig
from monitor.errors import UsageError
from monitor.net.urls import is_http_url

_BAD_NAME = re.compile(r"[\x00-\x1f\x7f]")


def parse_opml(data: bytes, source: str) -> list[FeedConfig]:
    """Feeds of an OPML file (nested folders flattened); entity tricks are refused."""
    try:
        root = SafeET.fromstring(data)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise UsageError(f"{source}: not a valid OPML file: {exc}") from None
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        if not is_http_url(url):
            raise UsageError(f"{source}: feed URL {url!r} is not http(s)")
        name = (outline.get("title") or outline.get("text") or url).strip()
        feeds.append(FeedConfig(name=_BAD_NAME.sub(" ", name)[:200], url=url))
    return feeds


def render_opml(feeds: Sequence[FeedConfig], title: str = "monitor feeds") -> bytes:
    root = Element("opml", version="2.0")
    head = SubElement(root, "head")
    SubElement(head, "title").text = title
    body = SubElement(root, "body")
    for feed in feeds:
        SubElement(body, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url)
    data: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + data + b"\n"


def toml_string(value: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", out) + '"'


def feeds_toml(feeds: Sequence[FeedConfig]) -> str:
    """`[[feeds]]` blocks to append to config.toml (comments and layout of the file are kept)."""
    blocks = [
        f"\n[[feeds]]\nname = {toml_string(f.name)}\nurl = {toml_string(f.url)}\n" for f in feeds
    ]
    return "".join(blocks)
