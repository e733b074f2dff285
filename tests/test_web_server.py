"""`monitor serve` as a real process over a database filled by a real poll: the opening page,
the canned queries, search and the Atom feeds; read-only while the poller writes; and `monitor`
subscribing to its own feed."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import feedparser
from support import Db, Site
from web_support import HOSTILE, LATER, NEWS, configure, monitor_serve, serve_news

from monitor.config.sections import DigestSettings
from monitor.digest import build_digest, render_digest
from monitor.store.db import make_engine, session_scope
from monitor.web.metadata import shipped_metadata

QUERIES = list(shipped_metadata()["databases"]["monitor"]["queries"])


def poll_world(site: Site, workdir: Path, run_cli: Any) -> str:
    """Poll the news feed, then the wire: the wire's copy is the copy, whatever the timing."""
    base = serve_news(site)
    configure(workdir, base)
    assert run_cli("init").code == 0
    for feed in ("news", "wire"):
        result = run_cli("poll", "--all", "--feed", feed)
        assert result.code == 0, result.err
    return base


def test_the_web_view_over_a_polled_database(
    site: Site, workdir: Path, db: Db, run_cli: Any
) -> None:
    base = poll_world(site, workdir, run_cli)
    ids = {str(url)[len(base) :]: (n, kind) for n, url, kind in db.rows(
        "SELECT id, url, duplicate_kind FROM article")}  # fmt: skip
    assert ids["/wire/nvidia"][1] == "near" and ids["/news/baidu-ernie"][1] == "same-story"
    assert ids["/news/nvidia-record"][1] is None and ids["/news/deepseek-r2"][1] is None

    with monitor_serve(workdir) as server:
        home = server.get("/")
        assert home.status_code == 200
        feeds = re.findall(r'<link rel="alternate" type="application/atom\+xml"[^>]*>', home.text)
        assert 'href="/-/atom/all.atom"' in feeds[0] and len(feeds) == 1 + 14
        assert 'href="/-/atom/deepseek.atom"' in feeds[1]
        assert "New stories today" in home.text and "Stories of the last 7 days" in home.text

        for name in QUERIES:
            page = server.get(f"/monitor/{name}", params={"id": ids["/news/nvidia-record"][0]})
            assert page.status_code == 200, name
        # A page awaiting a retry (written as the poller would) shows in its query.
        assert rows(server, "pages_awaiting_retry") == []
        with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
            conn.execute(
                "UPDATE article SET fetch_attempts = 2, fetch_error = 'HTTP 503',"
                " next_fetch_at = '2030-01-01 00:00:00.000000' WHERE id = ?",
                (ids["/news/deepseek-r2"][0],),
            )
        (waiting,) = rows(server, "pages_awaiting_retry")
        assert waiting["url"] == f"{base}/news/deepseek-r2" and waiting["fetch_attempts"] == 2
        assert waiting["fetch_error"] == "HTTP 503"
        with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
            conn.execute("UPDATE article SET fetch_attempts = 0, fetch_error = NULL,"
                         " next_fetch_at = NULL")  # fmt: skip

        today = rows(server, "new_stories")
        assert {r["title"] for r in today} == {HOSTILE, NEWS[1].title}
        assert {r["topic"] for r in today} == {"deepseek", "nvidia"}
        nvidia = next(r for r in today if r["topic"] == "nvidia")
        assert nvidia["other_sources"] == 1
        cluster = rows(server, "story", id=nvidia["story"])
        assert [(r["role"], r["source"]) for r in cluster] == [
            ("original", "Example News"),
            ("near", "Wire Service"),
        ]
        (seed,) = rows(server, "seed_matches")
        assert seed["title"] == NEWS[2].title and seed["kind"] == "same-story"
        assert seed["seed_section"].startswith("Baidu, once China") and 0 < seed["score"] <= 1
        (top, *_) = rows(server, "top_stories")
        assert top["title"] == NEWS[1].title and top["also_reported_by"] == "Wire Service"

        # A feed's HTML is text: the title's <script> is escaped, never markup.
        page = server.get("/monitor/new_stories").text
        assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page

        # Full-text search over titles and text: a word only the text holds.
        found = server.get(
            "/monitor/article.json", params={"_search": "Robinson", "_shape": "array"}
        )
        assert [r["url"] for r in found.json()] == [f"{base}/news/deepseek-r2"]
        # Facets on the article table, and on topics.
        table = server.get("/monitor/article.json").json()
        assert {"feed_id", "site_name", "language", "duplicate_kind"} <= set(table["facet_results"])
        topics = server.get("/monitor/article_topic.json").json()["facet_results"]["topic"]
        assert {v["value"] for v in topics["results"]} == {"deepseek", "nvidia", "baidu"}

        newest_first = [str(r[0]) for r in db.rows(
            "SELECT url FROM article WHERE duplicate_kind IS NULL ORDER BY fetched DESC, id DESC")]  # fmt: skip
        check_feeds(server, base, newest_first)
        check_digest_links(server, workdir)


def check_digest_links(server: Any, workdir: Path) -> None:
    """With [web] base_url, every web link of the digest opens the matching page."""
    engine = make_engine(f"sqlite:///{workdir / 'data' / 'monitor.db'}")
    settings = DigestSettings(web_url=server.url)
    with session_scope(engine) as session:
        data = build_digest(session, datetime.now(UTC).date(), ZoneInfo("UTC"), settings)
    engine.dispose()
    html = render_digest(data, settings, {"nvidia": "Nvidia", "deepseek": "DeepSeek"}).html
    links = {unescape(h) for h in re.findall(r'href="([^"]+)"', html) if h.startswith(server.url)}
    topic = next(h for h in links if "topic=nvidia" in h)
    assert [r["title"] for r in rows(server, *query_of(topic))] == [NEWS[1].title]
    (sources,) = [h for h in links if "/monitor/story?" in h]
    assert len(rows(server, *query_of(sources))) == 2


def query_of(link: str) -> tuple[str, dict[str, str]]:
    """("new_stories", {"topic": ...}) of a link to a canned query."""
    parts = urlsplit(link)
    return parts.path.rsplit("/", 1)[1], dict(parse_qsl(parts.query))


def rows(
    server: Any, query: str, params: dict[str, Any] | None = None, **more: Any
) -> list[dict[str, Any]]:
    response = server.get(
        f"/monitor/{query}.json", params={"_shape": "array", **(params or {}), **more}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert isinstance(result, list)
    return result


def check_feeds(server: Any, base: str, newest_first: list[str]) -> None:
    every = server.get("/-/atom/all.atom")
    assert every.status_code == 200
    assert every.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(every.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    # Originals only, newest first: not the wire's copy, not the copy of a seed story.
    links = [e.link for e in parsed.entries]
    assert links == newest_first
    assert sorted(links) == [f"{base}/news/deepseek-r2", f"{base}/news/nvidia-record"]
    deepseek, nvidia = sorted(parsed.entries, key=lambda e: e.link)
    assert deepseek.title == HOSTILE
    assert deepseek.id == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, deepseek.link)}"
    assert [t.term for t in deepseek.tags] == ["deepseek"] and deepseek.tags[0].label == "DeepSeek"
    assert "Singapore" in deepseek.summary and deepseek.published.startswith("2025-03-04")
    content = nvidia.content[0].value
    assert "Also reported by" in content and f'href="{base}/wire/nvidia"' in content
    assert "Wire Service" in content and "/monitor/story?id=" in content
    # Stable: the same document (and ETag) again; a conditional GET gets a 304.
    again = server.get("/-/atom/all.atom")
    assert again.content == every.content
    assert (
        server.get("/-/atom/all.atom", headers={"If-None-Match": every.headers["etag"]}).status_code
        == 304
    )

    one = feedparser.parse(server.get("/-/atom/nvidia.atom").content)
    assert not one.bozo and [e.link for e in one.entries] == [f"{base}/news/nvidia-record"]
    assert one.feed.title == "monitor: new stories on Nvidia"
    empty = feedparser.parse(server.get("/-/atom/tesla.atom").content)
    assert not empty.bozo and empty.entries == []
    assert server.get("/-/atom/no-such-topic.atom").status_code == 404


def test_read_only_while_the_poller_writes(site: Site, workdir: Path, db: Db, run_cli: Any) -> None:
    base = poll_world(site, workdir, run_cli)
    database = workdir / "data" / "monitor.db"
    with monitor_serve(workdir) as server:
        before = database.stat()
        for path in ["/", "/monitor", "/monitor/article", "/monitor/article?_search=Nvidia",
                     "/monitor/new_stories", "/-/atom/all.atom", "/-/dashboards/news",
                     "/monitor/article_topic?_facet=topic"]:  # fmt: skip
            assert server.get(path).status_code == 200, path
        after = database.stat()
        assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
        # The web process holds the database file open for reading only (O_RDONLY).
        modes = open_modes(server.process.pid, database)
        assert modes and all(mode == os.O_RDONLY for mode in modes), modes

        # The poller writes while the server runs; the new story shows on reload.
        serve_news(site, [*NEWS, LATER])
        assert run_cli("poll", "--all", "--feed", "news").code == 0
        titles = [r["title"] for r in rows(server, "new_stories", topic="openai")]
        assert LATER.title in titles
        latest = feedparser.parse(server.get("/-/atom/all.atom").content).entries[0]
        assert latest.link == f"{base}{LATER.path}"
    assert "Traceback" not in server.log.read_text()


def open_modes(pid: int, path: Path) -> list[int]:
    """The access mode (O_RDONLY, O_WRONLY, O_RDWR) of each descriptor `pid` has on `path`."""
    modes = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if Path(os.readlink(fd)) != path.resolve():
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
        except OSError:  # closed meanwhile
            continue
        flags = int(re.search(r"flags:\s+([0-7]+)", info).group(1), 8)  # type: ignore[union-attr]
        modes.append(flags & os.O_ACCMODE)
    return modes


def test_monitor_subscribes_to_its_own_feed(
    site: Site, workdir: Path, db: Db, run_cli: Any
) -> None:
    base = poll_world(site, workdir, run_cli)
    second = workdir / "second"
    second.mkdir()
    shutil.copytree(workdir / "seeds", second / "seeds")
    config = second / "config.toml"
    config.write_text('[dedup]\nembedder = "static"\n[extract]\nworkers = 1\n', encoding="utf-8")
    with monitor_serve(workdir) as server:
        opml = second / "feeds.opml"
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
            f'<outline type="rss" text="monitor" xmlUrl="{server.url}/-/atom/all.atom"/>'
            "</body></opml>",
            encoding="utf-8",
        )
        assert run_cli("--config", str(config), "feeds", "import-opml", str(opml)).code == 0
        assert run_cli("--config", str(config), "init").code == 0
        result = run_cli("--config", str(config), "poll", "--all")
        assert result.code == 0, result.err
    theirs = Db(f"sqlite:///{second / 'data' / 'monitor.db'}")
    urls = sorted(str(r[0]) for r in theirs.rows("SELECT url FROM article"))
    assert urls == [f"{base}/news/deepseek-r2", f"{base}/news/nvidia-record"]
    titles = {str(r[0]) for r in theirs.rows("SELECT title FROM article")}
    assert NEWS[1].title in titles  # the hostile one arrives without its tag, as from any feed
