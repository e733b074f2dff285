"""Feed parsing: bytes in, plain values out; non-feeds are errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import NotAFeedError
from monitor.feeds.parse import parse_feed

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel><title>T &amp; Co</title><link>https://example.com/</link>
<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>
<item><title>A &lt;b&gt;bold&lt;/b&gt; title</title><link>https://example.com/1</link>
<pubDate>Tue, 04 Mar 2025 09:00:00 +0100</pubDate>
<description>&lt;p&gt;Hello &lt;script&gt;alert(1)&lt;/script&gt;world&lt;/p&gt;</description></item>
<item><title>No guid, no link</title><description>Only text</description></item>
<item><title>Bad link</title><link>javascript:alert(1)</link><guid>g-3</guid></item>
</channel></rss>"""


def test_parse_rss() -> None:
    feed = parse_feed(RSS, {"content-type": "application/rss+xml"})
    assert feed.title == "T & Co" and feed.site_url == "https://example.com/"
    assert feed.ttl_minutes == 360.0  # daily / 4
    first, second, third = feed.entries
    assert first.title == "A bold title"
    assert first.guid == "https://example.com/1"
    assert first.published == datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
    assert "alert" not in first.summary and first.summary == "Hello world"
    assert second.link is None and second.guid.startswith("sha1:")
    assert parse_feed(RSS).entries[1].guid == second.guid  # stable across parses
    assert third.link is None  # only http(s) links are kept


def test_ill_formed_feed_is_kept_with_a_problem() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>x &bogus; y</title></item>")
    feed = parse_feed(broken)
    assert feed.problem and "ill-formed" in feed.problem
    assert len(feed.entries) >= 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><body><p>hi</p></body></html>", "HTML page"),
        (b'{"json": true}', "not a feed"),
    ],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(NotAFeedError, match=message):
        parse_feed(body)


def test_charset_from_headers() -> None:
    body = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Caf\xe9</title>"
        "<item><title>\xc9t\xe9</title><link>https://e.com/1</link></item></channel></rss>"
    )
    feed = parse_feed(body.encode("latin-1"), {"content-type": "text/xml; charset=iso-8859-1"})
    assert feed.title == "Café" and feed.entries[0].title == "Été"


def test_a_feed_without_entries_is_an_error() -> None:
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
    with pytest.raises(NotAFeedError, match="no entries"):
        parse_feed(empty)
