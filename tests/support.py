"""Helpers shared by the tests (pages, configuration files); fixtures live in conftest.py."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from fixtures.feeds import ARTICLES, atom, rss1, rss2
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text


def article_html(
    title: str,
    paragraphs: list[str],
    *,
    author: str = "Jane Doe",
    date: str = "2025-03-04",
    canonical: str | None = None,
) -> str:
    """A realistic article page: navigation, a main article, a footer with boilerplate."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return textwrap.dedent(f"""\
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{title} | Example News</title>
        <meta name="author" content="{author}">
        <meta property="article:published_time" content="{date}T08:00:00Z">
        <meta property="og:site_name" content="Example News">{link}</head>
        <body><nav><a href="/">Home</a> <a href="/tech">Tech</a> <a href="/markets">Markets</a></nav>
        <main><article><h1>{title}</h1><p class="byline">By {author}</p>
        {body}
        </article></main>
        <footer><p>Copyright Example News. All rights reserved.</p>
        <a href="/privacy">Privacy</a></footer></body></html>""")


@dataclass
class Site:
    server: HTTPServer

    def url(self, path: str) -> str:
        return self.server.url_for(path)


def write_config(workdir: Path, feeds: list[tuple[str, str]], extra: str = "") -> Path:
    lines = [
        "[fetch]",
        "per_host_delay = 0.0",
        "deadline = 10.0",
        "read_timeout = 5.0",
        "[extract]",
        "workers = 1",
        "[schedule]",
        "jitter = 0.0",
    ]
    for name, url in feeds:
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"']
    path = workdir / "config.toml"
    path.write_text(extra + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def serve_world(site: Site) -> str:
    base = site.url("").rstrip("/")
    site.server.expect_request("/rss2.xml").respond_with_data(
        rss2(base), content_type="application/rss+xml", headers={"ETag": '"v1"'}
    )
    site.server.expect_request("/atom.xml").respond_with_data(
        atom(base), content_type="application/atom+xml"
    )
    site.server.expect_request("/rss1.rdf").respond_with_data(
        rss1(base), content_type="application/rdf+xml"
    )
    site.server.expect_request("/broken.xml").respond_with_data("oops", status=500)
    site.server.expect_request("/news/missing").respond_with_data("not here", status=404)
    for path, (title, paragraphs) in ARTICLES.items():
        site.server.expect_request(path).respond_with_data(
            article_html(title, paragraphs), content_type="text/html; charset=utf-8"
        )
    return base


def feeds(base: str) -> list[tuple[str, str]]:
    return [
        ("city", f"{base}/rss2.xml"),
        ("wire", f"{base}/atom.xml"),
        ("culture", f"{base}/rss1.rdf"),
        ("broken", f"{base}/broken.xml"),
    ]


@dataclass
class Db:
    """Plain SQL on the test database (SQLite file or PostgreSQL), rows as tuples."""

    url: str

    def rows(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()
