"""URL canonicalisation and redirect-wrapper unwrapping."""

from __future__ import annotations

import pytest

from monitor.net.urls import canonical_url, is_http_url, unwrap_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.example.com/a/story?utm_source=rss&utm_medium=x",
            "https://example.com/a/story",
        ),
        ("https://example.com/a/story/#comments", "https://example.com/a/story"),
        ("https://EXAMPLE.com/a/story?fbclid=1&gclid=2", "https://example.com/a/story"),
        ("https://example.com/a/story/amp", "https://example.com/a/story"),
        ("https://amp.example.com/a/story?amp=1", "https://example.com/a/story"),
        ("https://example.com/amp/a/story", "https://example.com/a/story"),
        ("https://example.com/article?id=42&utm_campaign=z", "https://example.com/article?id=42"),
        ("http://example.com:8080/x/", "http://example.com:8080/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_redirect_wrappers_are_unwrapped() -> None:
    bing = (
        "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=abc"
        "&url=https%3a%2f%2fwww.reuters.com%2ftechnology%2fdeepseek-r2%2f&c=123&mkt=en-us"
    )
    assert unwrap_url(bing) == "https://www.reuters.com/technology/deepseek-r2/"
    assert canonical_url(bing) == "https://reuters.com/technology/deepseek-r2"
    google = "https://www.google.com/url?rct=j&sa=t&url=https://example.com/news/1&ct=ga"
    assert unwrap_url(google) == "https://example.com/news/1"
    # a wrapper whose target is not http(s) is left alone (and never fetched as a link)
    evil = "https://www.bing.com/news/apiclick.aspx?url=javascript:alert(1)"
    assert unwrap_url(evil) == evil
    # Google News article links need JavaScript: nothing to unwrap
    gn = "https://news.google.com/rss/articles/CBMiK2h0dHBzOi8v?oc=5"
    assert unwrap_url(gn) == gn


def test_is_http_url() -> None:
    assert is_http_url("https://example.com/x")
    for bad in (
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://x/y",
        "data:text/html,x",
        "",
        None,
        "https://",
    ):
        assert not is_http_url(bad)
