"""Issue 14: pages that fail for a passing reason are retried (within the cycle, then on later
cycles) and completed as if they had arrived the first time; permanent failures are not; a
host with many pages waits for its politeness slots without timing out or holding up others.
Real servers on 127.0.0.1, short limits."""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rawserver import RawServer, reset
from sqlalchemy import create_engine, text
from support import Db, Site, article_html
from werkzeug import Request, Response
from worlds import _story, build_world, rss

FAST = """
[fetch]
per_host_delay = 0.0
deadline = 5.0
read_timeout = 3.0
connect_timeout = 2.0
page_retries = 2
page_retry_wait = 0.05
max_retry_after = 1.0
page_max_attempts = 5
page_retry_minutes = 1.0
[extract]
workers = 1
[dedup]
embedder = "static"
[schedule]
jitter = 0.0
"""


def write(workdir: Path, feeds: dict[str, str], fetch: str = FAST) -> None:
    lines = [fetch]
    for name, url in feeds.items():
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"']
    (workdir / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def story(i: int) -> str:
    """A page of its own story (no two alike), about Nvidia, with a unique word `w{i}x17`."""
    _, paragraphs = _story(random.Random(i), i)
    paragraphs = [f"Nvidia shares moved, w{i}x17. {p}" for p in paragraphs]
    return article_html(f"Nvidia story {i}", [*paragraphs, f"Paragraph 3 of story {i}."])


def feed_xml(base: str, paths: list[str]) -> str:
    items = "".join(
        f"<item><title>Nvidia story {p.rsplit('/', 1)[1]}</title><link>{base}{p}</link>"
        f"<guid>{base}{p}</guid><description>Short summary.</description></item>"
        for p in paths
    )
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'


class Flaky:
    """A page that answers `failures` (status, headers) first, then the article."""

    def __init__(self, i: int, failures: list[tuple[int, dict[str, str]]]) -> None:
        self.i = i
        self.failures = list(failures)
        self.requests = 0

    def __call__(self, request: Request) -> Response:
        self.requests += 1
        if self.failures:
            status, headers = self.failures.pop(0)
            return Response("try later", status=status, headers=headers)
        return Response(story(self.i), content_type="text/html")


COLUMNS = [
    "id",
    "url",
    "status",
    "text",
    "text_hash",
    "extraction",
    "language",
    "error",
    "fetched",
    "story_id",
    "fetch_attempts",
    "next_fetch_at",
    "fetch_error",
]


def articles(db: Db) -> dict[str, dict[str, Any]]:
    """Every stored article (with its number of tags), keyed by its page's last path part."""
    topics = Counter(r[0] for r in db.rows("SELECT article_id FROM article_topic"))
    found = {}
    for row in db.rows(f"SELECT {', '.join(COLUMNS)} FROM article"):
        article = dict(zip(COLUMNS, row, strict=True))
        found[str(article["url"]).rsplit("/", 1)[1]] = {**article, "topics": topics[article["id"]]}
    return found


def execute(db: Db, sql: str) -> None:
    engine = create_engine(db.url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.mark.backends
def test_transient_failures_are_retried_and_permanent_ones_are_not(
    site: Site, workdir: Path, run_cli, db: Db
) -> None:  # type: ignore[no-untyped-def]
    base = site.url("").rstrip("/")
    pages = {
        "1": Flaky(1, []),  # fine at once
        "2": Flaky(2, [(503, {}), (502, {})]),  # fine on the third request, in the cycle
        "3": Flaky(3, [(429, {"Retry-After": "0"}), (408, {})]),  # Retry-After honoured
        "4": Flaky(4, [(503, {})] * 3),  # down for the whole first cycle: retried later
        "5": Flaky(5, [(404, {})] * 9),  # permanent: never again
        "6": Flaky(6, [(410, {})] * 9),
        "7": Flaky(7, [(503, {"Retry-After": "3600"})] * 9),  # asks for an hour: not in-cycle
    }
    for key, handler in pages.items():
        site.server.expect_request(f"/news/{key}").respond_with_handler(handler)
    site.server.expect_request("/feed.xml").respond_with_data(
        feed_xml(base, [f"/news/{k}" for k in pages]), content_type="application/rss+xml"
    )
    write(workdir, {"site": f"{base}/feed.xml"})
    assert run_cli("init").code == 0
    assert run_cli("poll", "--all").code == 0
    first = articles(db)
    assert {k: a["status"] for k, a in first.items()} == {
        "1": "ok",
        "2": "ok",
        "3": "ok",
        "4": "fetch-failed",
        "5": "fetch-failed",
        "6": "fetch-failed",
        "7": "fetch-failed",
    }
    assert {k: p.requests for k, p in pages.items()} == {
        "1": 1,
        "2": 3,
        "3": 3,
        "4": 3,
        "5": 1,
        "6": 1,
        "7": 1,
    }
    assert {k: a["fetch_attempts"] for k, a in first.items()} == {
        k: p.requests for k, p in pages.items()
    }
    waiting = {k for k, a in first.items() if a["next_fetch_at"] is not None}
    assert waiting == {"4", "7"}
    assert first["4"]["fetch_error"] == "HTTP 503" and first["5"]["fetch_error"] == "HTTP 404"
    assert first["1"]["fetch_error"] is None
    status = json.loads(run_cli("status", "--json").out)
    assert status["pages_awaiting_retry"] == 2 and status["next_page_retry"]
    assert "pages awaiting a retry: 2" in run_cli("status").out

    # Not due yet: a cycle now leaves them alone.
    assert run_cli("poll", "--all").code == 0
    assert pages["4"].requests == 3
    # Due (the test moves the stored time, not the clock of the code under test).
    execute(
        db,
        "UPDATE article SET next_fetch_at = '2000-01-01 00:00:00' WHERE next_fetch_at IS NOT NULL",
    )
    execute(db, "UPDATE feed SET next_check = '2999-01-01 00:00:00'")  # pages only
    assert run_cli("poll").code == 0
    second = articles(db)
    assert pages["4"].requests == 4 and pages["7"].requests == 2
    assert {k: p.requests for k, p in pages.items() if k not in "47"} == {
        "1": 1,
        "2": 3,
        "3": 3,
        "5": 1,
        "6": 1,
    }
    done, fresh = second["4"], second["1"]
    # Completed exactly as a first-time article: text, extraction, language, tags, search.
    assert done["status"] == "ok" and done["extraction"] == "trafilatura"
    assert done["language"] == fresh["language"] == "en"
    assert "Paragraph 3" in done["text"] and done["error"] is None
    assert done["text_hash"] and done["topics"] == fresh["topics"] > 0
    assert done["fetch_attempts"] == 4 and done["next_fetch_at"] is None
    assert done["fetch_error"] is None
    assert done["fetched"] == first["4"]["fetched"]  # keeps its day: no second digest
    assert done["id"] == first["4"]["id"] and done["story_id"] == done["id"]
    found = json.loads(run_cli("search", "w4x17", "--json").out)
    assert [r["id"] for r in found] == [done["id"]]
    assert second["7"]["fetch_attempts"] == 2 and second["7"]["next_fetch_at"] is not None
    assert json.loads(run_cli("status", "--json").out)["pages_awaiting_retry"] == 1
    ((index,),) = db.rows(
        "SELECT count(*) FROM dedup_doc WHERE ref_kind = 'article' AND ref_id = :id",
        id=done["id"],
    )
    assert index == 1  # its summary's fingerprints were replaced, not added to


def test_a_page_gives_up_after_page_max_attempts(
    site: Site, workdir: Path, run_cli, db: Db
) -> None:  # type: ignore[no-untyped-def]
    base = site.url("").rstrip("/")
    page = Flaky(1, [(500, {})] * 20)
    site.server.expect_request("/news/1").respond_with_handler(page)
    site.server.expect_request("/feed.xml").respond_with_data(
        feed_xml(base, ["/news/1"]), content_type="application/rss+xml"
    )
    write(workdir, {"site": f"{base}/feed.xml"})
    assert run_cli("init").code == 0
    for _ in range(4):
        assert run_cli("poll").code == 0
        with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
            conn.execute(
                "UPDATE article SET next_fetch_at = '2000-01-01 00:00:00' "
                "WHERE next_fetch_at IS NOT NULL"
            )
    # 3 in the first cycle, then one per cycle up to page_max_attempts = 5.
    assert page.requests == 5
    (art,) = articles(db).values()
    assert art["status"] == "fetch-failed" and art["fetch_attempts"] == 5
    assert art["next_fetch_at"] is None and art["fetch_error"] == "HTTP 500"
    assert art["text"] == "Short summary."  # settled on the feed's summary


def test_reset_connections_fail_their_pages_only(
    site: Site, workdir: Path, run_cli, db: Db
) -> None:  # type: ignore[no-untyped-def]
    """A loopback server resetting connections (SO_LINGER 0) at connect, after the request,
    mid-headers and mid-body: those pages are recorded and retried, the cycle completes and
    every other feed and page is stored."""
    base = site.url("").rstrip("/")
    for i in range(6):
        site.server.expect_request(f"/news/{i}").respond_with_data(
            story(i), content_type="text/html"
        )
    servers = [RawServer(reset(at)) for at in ("connect", "request", "headers", "body")]
    try:
        resets = "".join(
            f"<item><title>Reset {n}</title><link>{s.url(f'/r{n}')}</link></item>"
            for n, s in enumerate(servers)
        )
        site.server.expect_request("/mixed.xml").respond_with_data(
            feed_xml(base, [f"/news/{i}" for i in range(3)]).replace(
                "</channel>", resets + "</channel>"
            ),
            content_type="application/rss+xml",
        )
        site.server.expect_request("/good.xml").respond_with_data(
            feed_xml(base, [f"/news/{i}" for i in range(3, 6)]), content_type="application/rss+xml"
        )
        feeds = {"mixed": f"{base}/mixed.xml", "good": f"{base}/good.xml"}
        feeds |= {f"dead{n}": s.url("/feed.xml") for n, s in enumerate(servers)}
        write(workdir, feeds)
        assert run_cli("init").code == 0
        result = run_cli("poll", "--all")
        assert result.code == 0, result.err
    finally:
        for s in servers:
            s.close()
    stored = articles(db)
    assert {k for k, a in stored.items() if a["status"] == "ok"} == {str(i) for i in range(6)}
    failed = {k: a for k, a in stored.items() if k.startswith("r")}
    assert len(failed) == 4
    for a in failed.values():
        assert a["status"] == "fetch-failed" and a["fetch_attempts"] == 3
        assert a["next_fetch_at"] is not None and a["fetch_error"]
    status = {f["name"]: f for f in json.loads(run_cli("status", "--json").out)["feeds"]}
    assert status["mixed"]["state"] == status["good"]["state"] == "ok"
    assert all(status[f"dead{n}"]["state"] == "failing" for n in range(4))


def test_one_host_with_many_pages_waits_for_its_slots_and_holds_up_no_one(
    site: Site, workdir: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    """The 500-entries case, scaled down: 120 pages on one host at 0.02 s politeness take
    about 1.2 s, longer than the 0.5 s deadline; every page is fetched (the deadline starts
    when a request is sent), and the other host's pages are stored meanwhile."""
    world = build_world(feeds=2, per_feed=120, copies=0, seed=3)
    busy, other = sorted(world.feeds)
    base = site.url("").rstrip("/")
    other_base = base.replace("localhost", "127.0.0.1")  # another host name, same server
    for path, html in world.pages.items():
        site.server.expect_request(path).respond_with_data(html, content_type="text/html")
    site.server.expect_request(busy).respond_with_data(
        rss(base, world.feeds[busy]), content_type="application/rss+xml"
    )
    site.server.expect_request(other).respond_with_data(
        rss(other_base, world.feeds[other][:10]), content_type="application/rss+xml"
    )
    fetch = FAST.replace("per_host_delay = 0.0", "per_host_delay = 0.02").replace(
        "deadline = 5.0", "deadline = 0.5"
    )
    write(workdir, {"busy": f"{base}{busy}", "other": f"{other_base}{other}"}, fetch)
    assert run_cli("init").code == 0
    assert run_cli("poll", "--all").code == 0
    with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
        rows = conn.execute(
            "SELECT url, status, id FROM article ORDER BY id",
        ).fetchall()
    assert len(rows) == 130
    assert Counter(status for _, status, _ in rows) == {"ok": 130}
    order = [i for i, (url, _, _) in enumerate(rows) if url.startswith(other_base)]
    assert max(order) < 60  # the other host's pages did not queue behind the busy host's


def test_long_waits_are_logged_with_the_queue_per_host(
    site: Site, workdir: Path, run_cli, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from monitor.run import pages

    world = build_world(feeds=1, per_feed=30, copies=0, seed=4)
    (path,) = world.feeds
    base = site.url("").rstrip("/")
    for page, html in world.pages.items():
        site.server.expect_request(page).respond_with_data(html, content_type="text/html")
    site.server.expect_request(path).respond_with_data(
        rss(base, world.feeds[path]), content_type="application/rss+xml"
    )
    write(workdir, {"busy": f"{base}{path}"}, FAST.replace("delay = 0.0", "delay = 0.03"))
    assert run_cli("init").code == 0
    monkeypatch.setattr(pages, "QUEUE_LOG_SECONDS", 0.2)
    with caplog.at_level("INFO", logger="monitor.poll"):
        assert run_cli("poll", "--all").code == 0
    lines = [r.getMessage() for r in caplog.records if "waiting for their host" in r.getMessage()]
    assert lines and "host=localhost queued=" in lines[0]
