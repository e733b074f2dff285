"""End to end: a real HTTP server serves RSS 2.0, Atom and RSS 1.0 feeds and article pages;
`monitor init` + `monitor poll --all` store them in a real SQLite file
(and a real PostgreSQL database)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fixtures.feeds import rss2
from support import Db, Site, feeds, serve_world, write_config
from werkzeug import Request, Response

pytestmark = pytest.mark.backends


def test_poll_end_to_end(site: Site, workdir: Path, db: Db, run_cli) -> None:  # type: ignore[no-untyped-def]
    base = serve_world(site)
    write_config(workdir, feeds(base))
    assert run_cli("init").code == 0
    result = run_cli("poll", "--all")
    assert result.code == 0, result.err

    articles = db.rows(
        "SELECT canonical_url, title, status, extraction, author, site_name, "
        "language, text FROM article ORDER BY canonical_url",
    )
    by_url = {r[0]: r for r in articles}
    # 4 pages + the missing one; the wire copy of the bike-lanes URL is not a new article.
    assert sorted(by_url) == sorted(
        f"{base}/news/{p}"
        for p in ("bike-lanes", "orchestra", "harbour-bridge", "library", "missing")
    )
    bikes = by_url[f"{base}/news/bike-lanes"]
    # Whichever feed came first gave the entry's title (both carry the same URL).
    assert bikes[1] in (
        "City council approves forty kilometres of protected bike lanes",
        "Council backs bike lanes (wire copy of the same URL)",
    )
    assert bikes[2:4] == ("ok", "trafilatura")
    assert bikes[4] == "Jane Doe" and bikes[5] == "Example News" and bikes[6] == "en"
    assert "Maria Okafor" in bikes[7] and "Copyright" not in bikes[7]
    missing = by_url[f"{base}/news/missing"]
    assert missing[2:4] == ("fetch-failed", "feed")
    assert missing[7].startswith("The city museum extends its opening hours")

    # Entries: the repeated GUID is one entry; the wire entry points at the same article.
    entries = db.rows(
        "SELECT f.name, e.guid, a.canonical_url FROM entry e JOIN feed f "
        "ON f.id = e.feed_id JOIN article a ON a.id = e.article_id",
    )
    assert ("wire", "urn:wire:2", f"{base}/news/bike-lanes") in entries
    assert sum(1 for e in entries if e[1] == "city-3") == 1
    assert len(entries) == 6  # city 3 (one GUID repeated), wire 2, culture 1

    # The broken feed is recorded, the others landed.
    status = json.loads(run_cli("status", "--json").out)
    states = {f["name"]: f for f in status["feeds"]}
    assert states["broken"]["state"] == "failing"
    assert states["broken"]["last_error"] == "HTTP 500"
    assert states["broken"]["consecutive_failures"] == 1
    assert states["city"]["state"] == "ok" and states["city"]["entries"] == 3
    assert status["articles"] == 5 and status["seeds"] == 3 and status["seed_sections"] == 11

    # Publication times come from the feeds, in UTC.
    (published,) = db.rows("SELECT published FROM article WHERE canonical_url LIKE '%library'")
    assert str(published[0]).startswith("2025-03-04 13:00:00")


def test_second_poll_adds_nothing_and_304_changes_nothing(
    site: Site, workdir: Path, db: Db, run_cli
) -> None:  # type: ignore[no-untyped-def]
    base = serve_world(site)
    write_config(workdir, feeds(base))
    run_cli("init")
    run_cli("poll", "--all")
    before = db.rows("SELECT * FROM article ORDER BY id")
    entries = db.rows("SELECT * FROM entry ORDER BY id")
    assert db.rows("SELECT etag FROM feed WHERE name = 'city'") == [('"v1"',)]

    run_cli("poll", "--all")  # unchanged feeds: no new rows
    assert db.rows("SELECT * FROM article ORDER BY id") == before
    assert db.rows("SELECT * FROM entry ORDER BY id") == entries

    site.server.clear()
    seen: list[str | None] = []

    def conditional(request: Request) -> Response:
        seen.append(request.headers.get("If-None-Match"))
        return Response(status=304)

    site.server.expect_request("/rss2.xml").respond_with_handler(conditional)
    result = run_cli("poll", "--all", "--feed", "city")
    assert result.code == 0
    assert seen == ['"v1"']
    assert db.rows("SELECT * FROM article ORDER BY id") == before
    assert db.rows("SELECT etag, consecutive_failures FROM feed WHERE name = 'city'") == [
        ('"v1"', 0)
    ]


def test_pages_fetched_only_for_new_entries(site: Site, workdir: Path, db: Db, run_cli) -> None:  # type: ignore[no-untyped-def]
    base = serve_world(site)
    write_config(workdir, feeds(base)[:1])
    run_cli("init")
    run_cli("poll", "--all")
    pages = [r for r, _ in site.server.log if r.path.startswith("/news/")]
    run_cli("poll", "--all")
    again = [r for r, _ in site.server.log if r.path.startswith("/news/")]
    assert len(pages) == 3 and len(again) == 3


def test_not_a_feed_is_an_error(site: Site, workdir: Path, db: Db, run_cli) -> None:  # type: ignore[no-untyped-def]
    site.server.expect_request("/page.html").respond_with_data(
        "<html><body><p>Hello</p></body></html>", content_type="text/html"
    )
    site.server.expect_request("/empty.xml").respond_with_data("", content_type="text/xml")
    write_config(workdir, [("html", site.url("/page.html")), ("empty", site.url("/empty.xml"))])
    run_cli("init")
    assert run_cli("poll", "--all").code == 0
    status = json.loads(run_cli("status", "--json").out)
    errors = {f["name"]: f["last_error"] for f in status["feeds"]}
    assert "HTML page" in errors["html"]
    assert "empty" in errors["empty"]


def test_a_cycle_of_unchanged_feeds_starts_no_extraction_process(
    site: Site,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """Extraction processes start with the first new entry: a cron poll that finds every
    feed unchanged (304) pays for no process start-up, and loads no model."""
    from sqlmodel import Session

    from monitor.dedup.embed import forget_embedders, loaded_embedders
    from monitor.run.context import AppContext
    from monitor.run.pipeline import Poller

    base = site.url("").rstrip("/")
    body = rss2(base)

    def conditional(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(body, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    site.server.expect_request("/rss2.xml").respond_with_handler(conditional)
    config = write_config(workdir, [("city", f"{base}/rss2.xml")])
    config.write_text(config.read_text().replace("workers = 1", "workers = 2"), "utf-8")
    assert run_cli("init").code == 0
    app = AppContext(config)
    engine = app.engine()
    with Session(engine) as session:
        tagger = app.tagger(session)
    # Any new entry loads the writer's embedders ahead (20 by default).
    monkeypatch.setattr("monitor.run.pipeline.MODELS_AHEAD", 1)
    for expect_processes in (True, False):  # first cycle: new entries; second: a 304
        forget_embedders()
        poller = Poller(engine, app.settings, tagger)
        try:
            stats = poller.poll(everything=True)
            assert stats.not_modified == (0 if expect_processes else 1)
            time.sleep(0.5)  # room for a (wrong) start in the background
            started = bool(getattr(poller.processes, "_processes", None))
            assert started == expect_processes
            # The writer's embedders load ahead with the processes (none needed one here):
            # a second or two, many more on a loaded machine.
            deadline = time.monotonic() + (120 if expect_processes else 0)
            while not loaded_embedders() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert bool(loaded_embedders()) == expect_processes
        finally:
            poller.close()
    app.close()
