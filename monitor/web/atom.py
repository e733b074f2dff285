"""Atom 1.0 feeds of new stories (pure: story values in, XML bytes out; feedgen writes the XML).

Entry ids are `urn:uuid:` names derived from the article's canonical URL: the same story keeps
its id across runs, restarts, a changed `base_url` and a rebuilt database.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from monitor import __version__
from monitor.digest.clean import excerpt, safe_url, single_line

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedStory:
    """An original article as one Atom entry."""

    id: int
    canonical_url: str
    url: str
    title: str
    published: datetime | None
    fetched: datetime
    summary: str  # raw from the feed (may hold HTML)
    text_head: str
    source: str
    topics: tuple[tuple[str, str], ...]  # (id, name) in schema order
    also: tuple[tuple[str, str], ...] = ()  # (outlet, url) of the copies
    story_url: str | None = None  # the web view's page of the story cluster


@dataclass(frozen=True)
class FeedInfo:
    title: str
    subtitle: str
    self_url: str  # where the feed itself lives
    page_url: str  # the web page it mirrors


def entry_id(canonical_url: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, canonical_url)}"


def render_atom(info: FeedInfo, stories: Sequence[FeedStory]) -> bytes:
    """The feed, newest story first as given; `updated` is the newest story's, so an unchanged
    feed is byte-for-byte the same document (and its ETag stays)."""
    fg = FeedGenerator()
    fg.id(info.self_url)
    fg.title(single_line(info.title, 200))
    fg.subtitle(single_line(info.subtitle, 300))
    fg.link(href=info.self_url, rel="self", type="application/atom+xml")
    fg.link(href=info.page_url, rel="alternate", type="text/html")
    fg.author({"name": "monitor"})
    fg.generator("monitor", __version__)
    fg.language("en")
    fg.updated(max((s.fetched for s in stories), default=EPOCH))
    for story in stories:
        _add_entry(fg, story)
    data = fg.atom_str(pretty=True)
    assert isinstance(data, bytes)
    return data


def _add_entry(fg: FeedGenerator, story: FeedStory) -> None:
    fe = fg.add_entry(order="append")
    fe.id(entry_id(story.canonical_url))
    fe.title(single_line(story.title, 300) or "(untitled)")
    link = safe_url(story.url)
    if link:
        fe.link(href=link, rel="alternate", type="text/html")
    if story.published:
        fe.published(story.published)
    fe.updated(story.fetched)
    if story.source:
        fe.author({"name": single_line(story.source, 80)})
    for topic, name in story.topics:
        fe.category(term=topic, label=single_line(name, 60))
    summary = excerpt(story.summary, story.text_head, title=story.title)
    if summary:
        fe.summary(summary)
    fe.content(_content_html(summary, story), type="html")


def _content_html(summary: str, story: FeedStory) -> str:
    """The entry's body: the excerpt, the other outlets, a link to every source. Every value is
    escaped here; the HTML around them is ours."""
    parts = []
    if summary:
        parts.append(f"<p>{html.escape(summary)}</p>")
    if story.also:
        links = ", ".join(_link(name, url) for name, url in story.also)
        parts.append(f"<p>Also reported by {links}.</p>")
    if story.story_url:
        parts.append(
            f'<p><a href="{html.escape(story.story_url)}">Every source of this story</a></p>'
        )
    source = html.escape(single_line(story.source, 80))
    parts.append(f"<p>{source}</p>" if source else "")
    return "".join(parts)


def _link(name: str, url: str) -> str:
    text = html.escape(single_line(name, 80))
    href = safe_url(url)
    return f'<a href="{html.escape(href)}">{text}</a>' if href else text
