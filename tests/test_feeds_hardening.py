"""Hardening, feeds (issue 7, cases 6 and 8): entity attacks on the XML parsers, and exactly
one row per dedup key whatever the feeds repeat."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.feeds import ARTICLES
from support import Db, Site, article_html, serve_world, write_config

from monitor.errors import NotAFeedError
from monitor.extract.page import extract_article
from monitor.feeds.parse import parse_feed

LAUGHS = "\n".join(
    [f'<!ENTITY lol0 "{"lol" * 10}">']
    + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
)
BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE rss [{LAUGHS}]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>Laughs &lol9;</title><link>http://example.com/a</link>
<description>&lol9;</description></item></channel></rss>"""

QUADRATIC = (
    f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"x" * 50_000}">]>'
    f'<rss version="2.0"><channel><item><title>{"&a;" * 50_000}</title>'
    "<link>http://example.com/q</link></item></channel></rss>"
)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that records whatever connects to it."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    seen.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    seen.append(b"<connected>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], seen
    stop.set()
    thread.join(1)
    sock.close()


def external_entities(port: int, secret: Path) -> list[str]:
    cb = f"http://127.0.0.1:{port}"
    return [
        # general external entities: a file, and a callback
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY f SYSTEM "file://{secret}">'
        f'<!ENTITY c SYSTEM "{cb}/general">]><rss version="2.0"><channel><title>&f;</title>'
        "<item><title>&f;</title><link>http://example.com/x</link><description>&c;&f;"
        "</description></item></channel></rss>",
        # parameter entities (the out-of-band exfiltration trick)
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "{cb}/param"> %p;'
        f'<!ENTITY % f SYSTEM "file://{secret}">]><rss version="2.0"><channel>'
        "<item><title>p</title><link>http://example.com/y</link></item></channel></rss>",
        # an external DTD
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{cb}/dtd"><rss version="2.0"><channel>'
        "<item><title>&ext;</title><link>http://example.com/z</link></item></channel></rss>",
        # XInclude and an xml-stylesheet
        f'<?xml version="1.0"?><?xml-stylesheet href="{cb}/xsl"?>'
        '<rss version="2.0" xmlns:xi="http://www.w3.org/2001/XInclude"><channel><item>'
        f'<title><xi:include href="file://{secret}" parse="text"/></title>'
        "<link>http://example.com/w</link></item></channel></rss>",
    ]


def fields(feed: object) -> str:
    return repr(feed)


def test_billion_laughs_does_not_expand() -> None:
    start = time.process_time()  # CPU seconds: a busy machine's wall time is no blowup
    parsed = parse_feed(BILLION_LAUGHS.encode())
    assert time.process_time() - start < 1.0
    assert len(fields(parsed)) < 10_000
    assert parsed.problem  # recorded as ill-formed: the entity is left undefined


def test_quadratic_blowup_is_bounded() -> None:
    start = time.process_time()
    parsed = parse_feed(QUADRATIC.encode())
    assert time.process_time() - start < 1.0
    assert len(fields(parsed)) < 1_000_000


def test_external_entities_read_no_file_and_call_nobody(
    tmp_path: Path, listener: tuple[int, list[bytes]]
) -> None:
    port, seen = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for doc in external_entities(port, secret):
        for encoding in ("utf-8", "utf-16"):
            body = doc.replace('encoding="utf-8"', "").encode(encoding)
            start = time.process_time()
            try:
                parsed: object = parse_feed(body)
            except NotAFeedError as exc:  # refusing the document is as good as ignoring the DTD
                parsed = exc
            assert time.process_time() - start < 1.0
            assert "TOP-SECRET" not in fields(parsed)
    time.sleep(0.3)
    assert seen == []


def test_a_hostile_page_reads_no_file_and_calls_nobody(
    tmp_path: Path, listener: tuple[int, list[bytes]]
) -> None:
    port, seen = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    page = (
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY f SYSTEM "file://{secret}">'
        f'<!ENTITY c SYSTEM "http://127.0.0.1:{port}/page">{LAUGHS}]>'
        "<html><head><title>t</title></head><body><article><h1>Headline</h1>"
        f"<p>{'A long enough paragraph of ordinary article text. ' * 10}</p>"
        "<p>&f; &c; &lol9;</p></article></body></html>"
    )
    start = time.process_time()
    extracted = extract_article(page.encode(), "http://example.com/page")
    assert time.process_time() - start < 1.0
    assert "TOP-SECRET" not in repr(extracted) and "lollol" * 100 not in repr(extracted)
    time.sleep(0.3)
    assert seen == []


# -- case 8: exactly one row per dedup key ----------------------------------------------------


@pytest.mark.backends
def test_one_row_per_dedup_key(site: Site, workdir: Path, db: Db, run_cli) -> None:  # type: ignore[no-untyped-def]
    base = serve_world(site)

    def item(guid: str | None, link: str | None, title: str) -> str:
        g = f"<guid>{guid}</guid>" if guid else ""
        lk = f"<link>{link}</link>" if link else ""
        return (
            f"<item><title>{title}</title>{lk}{g}<description>The feed's own words about "
            f"{title}, long enough to stand as a summary.</description></item>"
        )

    first = [
        item("dup", f"{base}/news/bike-lanes", "Bike lanes"),
        item("dup", f"{base}/news/orchestra", "Same GUID again, other link"),
        item(None, f"{base}/news/harbour-bridge?utm_source=rss&utm_medium=feed", "Bridge"),
        item(None, None, "Neither GUID nor link"),
        item(None, None, "Neither GUID nor link"),  # the same content-only item twice
        item("lib", f"{base}/news/library#comments", "Library"),
    ]
    second = [
        item("other-guid", f"{base}/news/bike-lanes?utm_campaign=x&fbclid=abc", "Bike lanes copy"),
        item("b-bridge", f"{base}/news/harbour-bridge/", "Bridge again"),
        item(None, None, "Neither GUID nor link"),  # content-only: its own feed's item
    ]
    title, paragraphs = ARTICLES["/news/harbour-bridge"]
    site.server.expect_request("/news/harbour-bridge/").respond_with_data(
        article_html(title, paragraphs), content_type="text/html; charset=utf-8"
    )
    for path, items in (("/first.xml", first), ("/second.xml", second)):
        site.server.expect_request(path).respond_with_data(
            f'<rss version="2.0"><channel><title>{path}</title>{"".join(items)}</channel></rss>',
            content_type="application/rss+xml",
        )
    write_config(workdir, [("first", site.url("/first.xml")), ("second", site.url("/second.xml"))])
    run_cli("init")
    for _ in range(2):  # a second run over the same feeds adds nothing
        assert run_cli("poll", "--all").code == 0
    articles = [str(r[0]) for r in db.rows("SELECT canonical_url FROM article")]
    entries = db.rows("SELECT feed_id, guid FROM entry")
    pages = [r for r, _ in site.server.log if r.path.startswith("/news/")]
    assert len(articles) == len(set(articles))
    assert sorted(a for a in articles if a.startswith("http")) == sorted(
        f"{base}/news/{p}" for p in ("bike-lanes", "harbour-bridge", "library")
    )
    assert len(articles) == 5  # + one content-only article per feed
    assert len(entries) == len(set(entries)) == 7  # first: 4 distinct items, second: 3
    # Each page once; which spelling of the bridge URL is fetched depends on which feed
    # answers first (both canonicalise to the same key).
    assert sorted(p.path.rstrip("/") for p in pages) == [
        "/news/bike-lanes",
        "/news/harbour-bridge",
        "/news/library",
    ]
