"""Same-story dedup through `monitor poll`, with either embedder: a story the seed corpus
holds and a rewrite of it on another site are duplicates, an unrelated story is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from dedup_samples import REWRITE, SPORT, STORY
from support import Db, Site, article_html, write_config

PAGES = {
    "/a/ernie": ("Baidu releases Ernie 4.5 and X1", STORY),
    "/b/ernie-free": ("Baidu unveils free Ernie models", REWRITE),
    "/c/hockey": ("Penguins beat Senators", SPORT),
}


def feed(base: str) -> str:
    items = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link><guid>{path}</guid>"
        f"<pubDate>Tue, 04 Mar 2025 {9 + n:02d}:00:00 GMT</pubDate></item>"
        for n, (path, (title, _)) in enumerate(PAGES.items())
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"<description>d</description>{items}</channel></rss>"
    )


def serve(site: Site) -> str:
    """The feed and its three pages; returns the base URL."""
    base = site.url("").rstrip("/")
    site.server.expect_request("/feed.xml").respond_with_data(
        feed(base), content_type="application/rss+xml"
    )
    for path, (title, text) in PAGES.items():
        html = article_html(title, [p for p in text.split(". ") if p])
        site.server.expect_request(path).respond_with_data(html, content_type="text/html")
    return base


@pytest.mark.parametrize("embedder", ["minilm", "static"])
def test_rewrite_is_a_same_story_duplicate(
    embedder: str,
    site: Site,
    workdir: Path,
    db: Db,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    base = serve(site)
    write_config(workdir, [("news", f"{base}/feed.xml")], f'[dedup]\nembedder = "{embedder}"\n')
    assert run_cli("init").code == 0
    result = run_cli("poll", "--all")
    assert result.code == 0, result.err
    rows = db.rows("SELECT url, duplicate_kind FROM article")
    kinds = {str(url)[len(base) :]: kind for url, kind in rows}
    # The story is also in the seed corpus (002, first section): it and its rewrite are both
    # the same story as something stored before them; the hockey report is new.
    assert kinds == {"/a/ernie": "same-story", "/b/ernie-free": "same-story", "/c/hockey": None}


def test_reindex_after_changing_the_embedder(
    site: Site,
    workdir: Path,
    db: Db,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """Vectors of one embedder never compare with the other's: `monitor reindex` recomputes
    the stored ones, so that stored articles match new ones again."""
    base = serve(site)
    write_config(workdir, [("news", f"{base}/feed.xml")])
    assert run_cli("init").code == 0
    assert run_cli("poll", "--all").code == 0

    def sizes() -> set[int]:
        return {int(r[0]) for r in db.rows("SELECT DISTINCT length(embedding) FROM dedup_doc")}

    assert sizes() == {2 * 384}  # MiniLM, the default
    config = workdir / "config.toml"
    config.write_text('[dedup]\nembedder = "static"\n' + config.read_text(), "utf-8")
    result = run_cli("reindex")
    assert result.code == 0, result.err
    assert "reindexed 11 seed section(s) and 3 article(s)" in result.out
    assert sizes() == {2 * 256}
    docs = db.rows("SELECT count(*) FROM dedup_doc")[0][0]
    assert docs == 11 + 3  # replaced, not added
