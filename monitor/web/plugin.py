"""The Datasette plugin of the web view: Atom routes, the opening page's data, links from a story
number to its cluster, and a read-only guard on every connection to the database."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Request, Response
from markupsafe import Markup

from monitor.config.sections import WebSettings
from monitor.web.atom import FeedInfo, FeedStory, render_atom
from monitor.web.metadata import DATABASE

F = TypeVar("F", bound=Callable[..., Any])

ALL = "all"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
TEXT_HEAD = 1500

STORIES_SQL = """
select a.id, a.canonical_url, a.url, a.title, a.published, a.fetched, a.summary,
  substr(a.text, 1, {head}) as text_head, coalesce(a.site_name, f.title, f.name) as source
from article a
left join feed f on f.id = a.feed_id
where a.duplicate_kind is null
  and exists (select 1 from article_topic t where t.article_id = a.id {topic})
order by a.fetched desc, a.id desc
limit :limit
"""
TOPICS_SQL = "select article_id, topic from article_topic where article_id in ({ids})"
ALSO_SQL = """
select d.story_id, coalesce(d.site_name, f.title, f.name) as source, d.url
from article d left join feed f on f.id = d.feed_id
where d.story_id in ({ids}) and d.id <> d.story_id
order by d.fetched, d.id
"""
TODAY_SQL = """
select t.topic, count(*) as stories
from article a join article_topic t on t.article_id = a.id
where a.duplicate_kind is null and a.fetched >= datetime('now', 'start of day')
group by t.topic
"""


def hook(fn: F) -> F:
    """Datasette's `hookimpl`, typed (mypy sees an untyped decorator otherwise)."""
    return cast(F, hookimpl(fn))


def parse_time(value: Any) -> datetime | None:
    """A stored UTC time ("2025-03-04 09:30:00.000000") as an aware datetime."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class MonitorPlugin:
    """Registered on Datasette's plugin manager by `monitor serve` (hook methods by name)."""

    # Datasette lists plugins by module name and looks for their templates/ and static/ there.
    __name__ = "monitor.web"

    def __init__(self, web: WebSettings, topic_names: Mapping[str, str]) -> None:
        self.web = web
        self.topic_names = dict(topic_names)  # id -> name, in schema order

    # -- hooks ------------------------------------------------------------------------------

    @hook
    def prepare_connection(self, conn: Any, database: str) -> None:
        # Datasette already opens the file with mode=ro; this makes any write an error even
        # on a connection that was not, so the web process can never change the database.
        if database == DATABASE:
            conn.execute("PRAGMA query_only = 1")

    @hook
    def register_routes(self) -> list[tuple[str, Callable[..., Awaitable[Response]]]]:
        return [(r"^/-/atom/(?P<topic>[a-z0-9][a-z0-9_-]*)\.atom$", self.atom_view)]

    @hook
    def render_cell(
        self, value: Any, column: str, table: str | None, database: str, datasette: Any
    ) -> Any:
        # The canned queries' `story` column holds an article id: link it to the story's page.
        if database == DATABASE and table is None and column == "story" and type(value) is int:
            href = datasette.urls.path(f"/{DATABASE}/story?id={value}")
            return Markup(f'<a href="{href}" title="every source of this story">#{value}</a>')
        return None

    @hook
    def extra_template_vars(self, template: str, datasette: Any, request: Any) -> Any:
        if template != "index.html":
            return None

        async def page_vars() -> dict[str, Any]:
            db = datasette.get_database(DATABASE)
            today = {row["topic"]: row["stories"] for row in await db.execute(TODAY_SQL)}
            topics = [
                {"id": t, "name": self.topic_names.get(t, t), "stories": today.get(t, 0)}
                for t in self._topic_ids(today)
            ]
            queries = datasette.metadata("queries", database=DATABASE) or {}
            return {
                "monitor_feeds": self.feed_links(),
                "monitor_topics": topics,
                "monitor_queries": [
                    {
                        "name": name,
                        "title": q.get("title", name),
                        "description": q.get("description"),
                    }
                    for name, q in queries.items()
                ],
                "monitor_database": DATABASE,
            }

        return page_vars

    # -- Atom -------------------------------------------------------------------------------

    def feed_links(self) -> list[dict[str, str]]:
        """The feeds the opening page advertises, the all-topics feed first (relative URLs)."""
        links = [{"title": "monitor: new stories on every topic", "href": f"/-/atom/{ALL}.atom"}]
        links += [
            {"title": f"monitor: new stories on {name}", "href": f"/-/atom/{quote(topic)}.atom"}
            for topic, name in self.topic_names.items()
        ]
        return links

    def _topic_ids(self, seen: Mapping[str, Any]) -> list[str]:
        return list(self.topic_names) + sorted(set(seen) - set(self.topic_names))

    async def atom_view(self, request: Request, datasette: Any) -> Response:
        topic = request.url_vars["topic"]
        db = datasette.get_database(DATABASE)
        if topic != ALL and topic not in self.topic_names:
            known = await db.execute(
                "select 1 from article_topic where topic = :t limit 1", {"t": topic}
            )
            if not known.rows:
                raise NotFound(f"no topic {topic!r}")
        found = await self._stories(db, topic)
        base = self.web.base_url or f"{request.scheme}://{request.host}"
        name = "every topic" if topic == ALL else self.topic_names.get(topic, topic)
        page = f"{base}/{DATABASE}/new_stories?" + urlencode(
            {"topic": "" if topic == ALL else topic}
        )
        info = FeedInfo(
            title=f"monitor: new stories on {name}",
            subtitle="Genuinely new stories found by monitor; copies are folded into them.",
            self_url=f"{base}/-/atom/{topic}.atom",
            page_url=page,
        )
        stories = [
            FeedStory(**{**s, "story_url": f"{base}/{DATABASE}/story?id={s['id']}"}) for s in found
        ]
        body = render_atom(info, stories)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "max-age=300"}
        if request.headers.get("if-none-match") == etag:
            return Response("", status=304, headers=headers)
        return Response(body.decode("utf-8"), status=200, headers=headers, content_type=ATOM_TYPE)

    async def _stories(self, db: Any, topic: str) -> list[dict[str, Any]]:
        where = "" if topic == ALL else "and t.topic = :topic"
        sql = STORIES_SQL.format(head=TEXT_HEAD, topic=where)
        params: dict[str, Any] = {"limit": self.web.feed_entries}
        if topic != ALL:
            params["topic"] = topic
        rows = list(await db.execute(sql, params))
        if not rows:
            return []
        ids = ", ".join(str(int(r["id"])) for r in rows)
        order = {t: i for i, t in enumerate(self.topic_names)}
        topics: dict[int, list[str]] = defaultdict(list)
        for r in await db.execute(TOPICS_SQL.format(ids=ids)):
            topics[r["article_id"]].append(r["topic"])
        also: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for r in await db.execute(ALSO_SQL.format(ids=ids)):
            outlets = also[r["story_id"]]
            if r["source"] and all(r["source"] != name for name, _ in outlets):
                outlets.append((r["source"], r["url"] or ""))
        stories = []
        for r in rows:
            fetched = parse_time(r["fetched"]) or datetime.now(UTC)
            ids_of = sorted(topics[r["id"]], key=lambda t: (order.get(t, len(order)), t))
            stories.append(
                {
                    "id": r["id"],
                    "canonical_url": r["canonical_url"],
                    "url": r["url"] or "",
                    "title": r["title"] or "",
                    "published": parse_time(r["published"]),
                    "fetched": fetched,
                    "summary": r["summary"] or "",
                    "text_head": r["text_head"] or "",
                    "source": r["source"] or "",
                    "topics": tuple((t, self.topic_names.get(t, t)) for t in ids_of),
                    "also": tuple(
                        (name, url) for name, url in also[r["id"]] if name != r["source"]
                    ),
                }
            )
        return stories
