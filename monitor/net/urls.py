"""URL handling: unwrap redirect wrappers and canonicalise, so one article has one key."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

from courlan import normalize_url

# Search engines wrap article links in click-tracking redirects that carry the target in
# a query parameter. Unwrapping before fetching saves a hop and gives the real URL for
# canonicalisation. Google News `/rss/articles/` links cannot be unwrapped (they need
# JavaScript), which is why the shipped config prefers Bing News search feeds.
_WRAPPERS: dict[str, tuple[str, ...]] = {
    "bing.com": ("url",),
    "news.google.com": ("url",),
    "google.com": ("url", "q"),
    "facebook.com": ("u",),
    "l.facebook.com": ("u",),
    "t.co": (),
    "duckduckgo.com": ("uddg",),
    "news.yahoo.com": ("url",),
    "r.search.yahoo.com": ("RU",),
}
_AMP_PATH = re.compile(r"(/amp)(?=/|$)|(\.amp)(?=$|\.html?$)", re.IGNORECASE)


def is_http_url(url: str | None) -> bool:
    """Only http(s) URLs are fetched or rendered as links."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def unwrap_url(url: str) -> str:
    """Return the target of a known redirect wrapper, or the URL itself."""
    for _ in range(3):  # wrappers can be nested
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        host = (parts.hostname or "").lower().removeprefix("www.")
        keys = _WRAPPERS.get(host)
        if not keys:
            return url
        query = parse_qs(parts.query)
        target = next((query[k][0] for k in keys if k in query), None)
        if not target or not is_http_url(target):
            return url
        url = target
    return url


def canonical_url(url: str) -> str:
    """A key for "the same URL": trackers, fragments, `www.` and AMP variants removed."""
    url = unwrap_url(url.strip())
    try:
        url = normalize_url(url, strict=True)
    except (ValueError, AttributeError):
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = host.removeprefix("www.").removeprefix("amp.")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    query = "&".join(q for q in parts.query.split("&") if q and q.lower() not in ("amp", "amp=1"))
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))
