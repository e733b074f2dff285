"""The world of the web-view tests: loopback feeds and pages polled by the real `monitor poll`
(originals on two topics, a syndicated copy, a copy of a seed story, a hostile title), and
`monitor serve` started as a real process on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
from dedup_samples import STORY
from support import Site, article_html, write_config

DEEPSEEK = (
    "DeepSeek will open its first office outside China in Singapore next month and hire 200 "
    "engineers there, the Hangzhou company said on Thursday. DeepSeek founder Liang Wenfeng "
    "told staff in a letter that the Singapore team would work on DeepSeek's inference "
    "servers and its API for customers in Southeast Asia. DeepSeek has grown from 160 to "
    "more than 600 employees this year, according to two people who know the company. "
    "The office on Robinson Road will be DeepSeek's second after Beijing, and recruiters "
    "said DeepSeek is offering engineers salaries well above those of local rivals."
)
NVIDIA = (
    "Nvidia reported record quarterly revenue of 39.3 billion dollars on Wednesday as demand "
    "for its Blackwell data-centre chips kept outrunning supply. Nvidia said Blackwell sales "
    "reached 11 billion dollars in their first quarter, the fastest ramp in the company's "
    "history. Chief executive Jensen Huang told analysts that Nvidia's next platform, "
    "Blackwell Ultra, ships in the second half. The company guided revenue of 43 billion "
    "dollars for the current quarter. Gaming revenue fell 11% as Nvidia moved production "
    "capacity to data-centre parts, and automotive revenue doubled to 570 million dollars."
)
HOSTILE = "DeepSeek <script>alert('pwned')</script> opens a Singapore office"
WIRE_EXTRA = "This story was syndicated by Wire Service; the wire desk added this line."


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    text: str
    site: str = "Example News"


NEWS = [
    Page("/news/deepseek-r2", HOSTILE, DEEPSEEK),
    Page("/news/nvidia-record", "Nvidia posts record revenue on Blackwell demand", NVIDIA),
    Page("/news/baidu-ernie", "Baidu releases Ernie 4.5 and X1", STORY),  # in the seed corpus
]
WIRE = [
    Page(
        "/wire/nvidia",
        "Nvidia beats estimates as Blackwell ramps",
        f"{NVIDIA} {WIRE_EXTRA}",
        "Wire Service",
    ),
]
LATER = Page(
    "/news/openai-power",
    "OpenAI signs a 20-year nuclear power deal",
    "OpenAI agreed to buy the output of the Three Mile Island reactor in Pennsylvania for 20 "
    "years to power its data centres, the ChatGPT maker said on Friday. OpenAI will pay "
    "Constellation Energy about 110 dollars per megawatt-hour, according to a filing with "
    "the state regulator. The reactor, shut in 2019, restarts in 2027 with 835 megawatts. "
    "OpenAI said the deal covers a third of the power its Stargate campus in Abilene needs "
    "by 2028. Sam Altman called nuclear power the cleanest way to scale ChatGPT.",
)


def atom(base: str, pages: list[Page], title: str) -> str:
    """An Atom feed whose titles are escaped twice, as hostile feeds do: "<script>" in a
    title reaches the database as text."""
    entries = "".join(
        f'<entry><title type="text">{escape(escape(p.title))}</title><link href="{base}{p.path}"/>'
        f"<id>{base}{p.path}</id><updated>2025-03-04T{9 + n:02d}:00:00Z</updated></entry>"
        for n, p in enumerate(pages)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>{base}/news.xml</id><updated>2025-03-04T12:00:00Z</updated>"
        f"{entries}</feed>"
    )


def rss(base: str, pages: list[Page], title: str) -> str:
    items = "".join(
        f"<item><title>{escape(p.title)}</title><link>{base}{p.path}</link>"
        f"<guid>{base}{p.path}</guid><pubDate>Tue, 04 Mar 2025 {9 + n:02d}:00:00 GMT</pubDate>"
        "</item>"
        for n, p in enumerate(pages)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{base}/</link><description>d</description>{items}</channel></rss>"
    )


def serve_news(site: Site, news: list[Page] = NEWS) -> str:
    """The two feeds and their pages on the loopback server; returns the base URL."""
    base = site.url("").rstrip("/")
    site.server.clear()
    site.server.expect_request("/news.xml").respond_with_data(
        atom(base, news, "Example News"), content_type="application/atom+xml"
    )
    site.server.expect_request("/wire.xml").respond_with_data(
        rss(base, WIRE, "Wire Service"), content_type="application/rss+xml"
    )
    for page in [*news, *WIRE, LATER]:
        sentences = [s.rstrip(".") + "." for s in page.text.split(". ") if s]
        html = article_html(escape(page.title), sentences)
        html = html.replace("Example News", page.site)
        site.server.expect_request(page.path).respond_with_data(html, content_type="text/html")
    return base


def configure(workdir: Path, base: str, extra: str = "") -> Path:
    return write_config(
        workdir,
        [("news", f"{base}/news.xml"), ("wire", f"{base}/wire.xml")],
        '[dedup]\nembedder = "static"\n' + extra,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=20, **kwargs)  # type: ignore[arg-type]


@contextmanager
def monitor_serve(workdir: Path, *args: str) -> Iterator[Server]:
    """`monitor serve` as a real process on a free loopback port, stopped with SIGTERM."""
    port = free_port()
    log = workdir / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "serve", "--port", str(port), *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"monitor serve exited: {log.read_text()}")
            try:
                if httpx.get(server.url + "/-/versions.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"monitor serve did not start: {log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
