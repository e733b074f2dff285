"""Renders a `DigestData` into the subject, text and HTML of the email (pure: values in, text out).

Stories are grouped under their main (highest-scoring) topic, in the order of the topic schema,
with untagged stories (when included) last under "Other"; a topic shows `max_per_topic`
stories and "and N more". With `web_url` set, topics and stories link to the web view
(`monitor serve`). Every feed-supplied value passes through `clean` here and through Jinja2's
autoescape in the HTML template.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.config.sections import DigestSettings
from monitor.digest.clean import excerpt, host_of, safe_url, single_line, tidy_title
from monitor.digest.content import DigestData, Story
from monitor.digest.query import day_bounds

OTHER = "Other"
# The web view's pages the digest links to (`monitor serve`: monitor/web/metadata.yml).
WEB_DATABASE = "monitor"
TITLE_LIMIT = 200


@dataclass(frozen=True)
class Link:
    text: str
    href: str | None  # None: show as text, the URL is not http(s)


@dataclass(frozen=True)
class StoryView:
    title: Link
    url: str  # as shown in the text part (single-lined; may be empty)
    source: str
    time: str
    excerpt: str
    labels: tuple[str, ...]  # names of the story's other topics
    also: tuple[Link, ...]
    sources_href: str | None  # the web view's page of every source of the story


@dataclass(frozen=True)
class Group:
    anchor: str
    name: str
    stories: tuple[StoryView, ...]  # the first `max_per_topic`
    total: int  # stories of the topic that day
    href: str | None  # the web view's page of the topic's stories that day

    @property
    def more(self) -> int:
        return self.total - len(self.stories)


@dataclass(frozen=True)
class FeedView:
    name: str
    host: str
    since: str
    failures: int
    error: str


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    text: str
    html: str
    stories: int


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.digest", "templates"),
        # Only the HTML template escapes; the text part is plain text and must stay verbatim.
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


def _wrap(text: str, indent: int = 3, width: int = 76) -> str:
    pad = " " * indent
    return textwrap.fill(
        text,
        width,
        initial_indent=pad,
        subsequent_indent=pad,
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_subject(settings: DigestSettings, day: date) -> str:
    # str.replace, not str.format: a brace in a configured subject must not raise or reach in.
    return single_line(settings.subject.replace("{date}", day.isoformat()), 200)


def render_digest(
    data: DigestData, settings: DigestSettings, topic_names: Mapping[str, str] | None = None
) -> RenderedDigest:
    """Subject, text and HTML of the digest; `topic_names` (id -> name, schema order) may be
    empty, in which case topic ids are shown as they are."""
    names = dict(topic_names or {})
    zone = ZoneInfo(data.zone)
    groups = _groups(data, names, zone, settings)
    subject = render_subject(settings, data.day)
    context = {
        "subject": subject,
        "day": f"{data.day:%A} {data.day.day} {data.day:%B %Y}",
        "zone": data.zone,
        "total": len(data.stories),
        "groups": groups,
        "failing": [
            _feed_view(f.name, f.url, f.since, f.failures, f.last_error, zone) for f in data.failing
        ],
        "failing_hours": _hours(settings.failing_feed_hours),
        "generated": _local(data.generated, zone, None),
    }
    env = _environment()
    return RenderedDigest(
        subject=subject,
        text=env.get_template("digest.txt.j2").render(context),
        html=env.get_template("digest.html.j2").render(context),
        stories=len(data.stories),
    )


def _groups(
    data: DigestData, names: dict[str, str], zone: ZoneInfo, settings: DigestSettings
) -> list[Group]:
    order = {topic: i for i, topic in enumerate(names)}
    buckets: dict[str, list[Story]] = {}
    for story in data.stories:
        # Ties on score go to the topic that comes first in the schema, so grouping is stable.
        ranked = sorted(story.topics, key=lambda t: (-t[1], order.get(t[0], len(order)), t[0]))
        main = ranked[0][0] if ranked else OTHER
        buckets.setdefault(main, []).append(story)

    def group_key(topic: str) -> tuple[int, int, str]:
        return (topic == OTHER, order.get(topic, len(order)), topic)

    groups = []
    for topic in sorted(buckets, key=group_key):
        # Stories carried by more outlets first, then the newest.
        stories = sorted(buckets[topic], key=lambda s: (-len(s.also), -s.time.timestamp(), s.id))
        shown = stories[: settings.max_per_topic] if settings.max_per_topic else stories
        web = settings.web_url
        views = tuple(_story_view(s, topic, names, zone, data.day, web) for s in shown)
        name = OTHER if topic == OTHER else single_line(names.get(topic, topic), 60)
        href = _topic_href(web, topic, data.day, zone) if topic != OTHER else None
        groups.append(Group(f"topic-{single_line(topic, 60)}", name, views, len(stories), href))
    return groups


def _web_href(web: str, path: str, params: dict[str, str | int]) -> str | None:
    return safe_url(f"{web}/{WEB_DATABASE}/{path}?{urlencode(params)}") if web else None


def _topic_href(web: str, topic: str, day: date, zone: ZoneInfo) -> str | None:
    """The web view's list of the topic's new stories of the digest's (local) day."""
    start, end = day_bounds(day, zone)
    return _web_href(
        web,
        "new_stories",
        {
            "topic": topic,
            "since": f"{start:%Y-%m-%d %H:%M:%S}",
            "until": f"{end:%Y-%m-%d %H:%M:%S}",
        },
    )


def _story_view(
    story: Story, main: str, names: dict[str, str], zone: ZoneInfo, day: date, web: str
) -> StoryView:
    url = single_line(story.url, 2048)
    title = tidy_title(story.title, TITLE_LIMIT) or host_of(url) or "(untitled)"
    labels = tuple(single_line(names.get(t, t), 60) for t, _ in story.topics if t != main)
    also = tuple(Link(single_line(s.name, 80), safe_url(s.url)) for s in story.also)
    return StoryView(
        title=Link(title, safe_url(story.url)),
        url=url,
        source=story.source,
        time=_local(story.time, zone, day),
        excerpt=excerpt(story.summary, story.text_head, title=story.title),
        labels=labels,
        also=also,
        sources_href=_web_href(web, "story", {"id": story.id}) if also else None,
    )


def _feed_view(
    name: str, url: str, since: datetime, failures: int, error: str, zone: ZoneInfo
) -> FeedView:
    return FeedView(
        name, host_of(url) or single_line(url, 80), _local(since, zone, None), failures, error
    )


def _local(moment: datetime, zone: ZoneInfo, day: date | None) -> str:
    """Local time: "09:30" on the digest's own day, else "13 Jan 23:10"."""
    local = moment.astimezone(zone)
    if day is not None and local.date() == day:
        return f"{local:%H:%M}"
    return f"{local.day} {local:%b %H:%M}"


def _hours(hours: float) -> str:
    return f"{hours:g} hours" if hours != 1 else "1 hour"
