"""The Datasette metadata of the web view: the shipped `metadata.yml`, plus what depends on the
database it opens (a canned query shown only when its columns exist)."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

DATABASE = "monitor"  # the name in every URL of the web view (/monitor/article, ...)

# Shown only on a schema that has the page-retry columns (`fetch_attempts`, `next_fetch_at`,
# `fetch_error` on `article`): an older database must still open.
RETRY_COLUMNS = frozenset({"fetch_attempts", "next_fetch_at", "fetch_error"})
RETRY_QUERY = {
    "title": "Pages awaiting a retry",
    "hide_sql": True,
    "description": (
        "Articles whose page could not be fetched yet and will be tried again: attempts so "
        "far, when the next one is due (UTC) and the last error."
    ),
    "sql": (
        "select a.id, a.title, a.url, a.fetch_attempts,\n"
        "  strftime('%Y-%m-%d %H:%M', a.next_fetch_at) as next_fetch_at, a.fetch_error,\n"
        "  a.status, coalesce(a.site_name, f.title, f.name) as source,\n"
        "  strftime('%Y-%m-%d %H:%M', a.fetched) as fetched\n"
        "from article a\n"
        "left join feed f on f.id = a.feed_id\n"
        "where a.next_fetch_at is not null\n"
        "order by a.next_fetch_at"
    ),
}


@cache
def shipped_metadata() -> dict[str, Any]:
    text = resources.files("monitor.web").joinpath("metadata.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def build_metadata(article_columns: set[str]) -> dict[str, Any]:
    """The metadata for a database whose `article` table has `article_columns`."""
    data = copy.deepcopy(shipped_metadata())
    if article_columns >= RETRY_COLUMNS:
        data["databases"][DATABASE]["queries"]["pages_awaiting_retry"] = dict(RETRY_QUERY)
    return data
