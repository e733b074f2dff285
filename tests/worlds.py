"""A generated news world for the worker tests and the workers benchmark: feeds of small
article pages, some stories carried by several feeds under other URLs and headlines."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from support import article_html

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "te",
    "vo",
    "zi",
    "pa",
    "de",
    "fu",
    "ga",
    "hi",
    "jo",
    "ku",
    "ly",
    "mo",
    "nu",
    "pi",
    "qua",
    "ro",
    "su",
    "ti",
    "ve",
    "wa",
    "xe",
    "yo",
]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _story(rng: random.Random, n: int) -> tuple[str, list[str]]:
    """A story about invented names and numbers, so no two stories look alike."""
    names = [_word(rng).capitalize() for _ in range(4)]
    title = f"{names[0]} {_word(rng)} {names[1]} in {n} {_word(rng)} deal"
    paragraphs = []
    for p in range(3):
        words = [_word(rng) for _ in range(40)]
        words[5], words[17], words[29] = names[p], f"{n * 7 + p}", names[3]
        paragraphs.append(" ".join(words).capitalize() + ".")
    return title, paragraphs


@dataclass
class World:
    feeds: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # path -> items
    pages: dict[str, str] = field(default_factory=dict)  # path -> html
    # canonical path of each page -> the story it tells (copies share a story)
    story_of: dict[str, int] = field(default_factory=dict)


def build_world(feeds: int = 12, per_feed: int = 20, copies: int = 24, seed: int = 9) -> World:
    """`feeds` feeds of `per_feed` items; `copies` items are another feed's story again
    (the same text under another URL and headline: a syndicated copy)."""
    rng = random.Random(seed)
    world = World()
    stories: list[tuple[str, list[str]]] = []
    for f in range(feeds):
        items = []
        for i in range(per_feed):
            path = f"/site{f}/story-{i}"
            stories.append(_story(rng, f * 1000 + i))
            story = len(stories) - 1
            items.append((path, stories[story][0]))
            world.pages[path] = article_html(*stories[story])
            world.story_of[path] = story
        world.feeds[f"/feed{f}.xml"] = items
    for c in range(copies):
        f = c % feeds
        story = rng.randrange(len(stories))
        while story // per_feed == f:  # a copy in another feed than its original
            story = rng.randrange(len(stories))
        title, paragraphs = stories[story]
        path = f"/site{f}/copy-{c}"
        world.pages[path] = article_html(f"Syndicated: {title}", paragraphs, author="Wire")
        world.story_of[path] = story
        world.feeds[f"/feed{f}.xml"].append((path, f"Syndicated: {title}"))
    return world


def rss(base: str, items: list[tuple[str, str]]) -> str:
    when = datetime(2025, 3, 4, 8, tzinfo=UTC)
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{base}{path}</link>"
        f"<guid>{base}{path}</guid><pubDate>{format_datetime(when + timedelta(minutes=i))}"
        "</pubDate></item>"
        for i, (path, title) in enumerate(items)
    )
    return f'<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
