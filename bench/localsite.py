"""A local HTTP server for evaluation and benchmarks: serves prepared bytes on 127.0.0.x,
with an optional fixed latency per response and ETag/304 support (stdlib only)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
REALWORLD = SHARED / "realworld"


@dataclass
class Site:
    routes: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, type)
    latency: float = 0.0
    host: str = "127.0.0.1"
    requests: int = 0

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests += 1
                if site.latency:
                    time.sleep(site.latency)
                path = self.path.split("?", 1)[0]
                if path not in site.routes:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, ctype = site.routes[path]
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 512
        server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://{self.host}:{server.server_address[1]}"


def load_pages() -> dict[str, bytes]:
    """The real article pages of ../shared/realworld/pages (id -> HTML bytes)."""
    return {
        p.name.split(".")[0]: gzip.decompress(p.read_bytes())
        for p in sorted((REALWORLD / "pages").glob("*.html.gz"))
    }


def ground_truth() -> dict[str, str]:
    data = json.loads((REALWORLD / "pages" / "ground-truth.json").read_text(encoding="utf-8"))
    return {k: v["articleBody"] for k, v in data.items()}


_ITEM = re.compile(rb"<(item|entry)\b.*?</\1>", re.S | re.I)
_RSS_LINK = re.compile(rb"<link>\s*(?:<!\[CDATA\[)?.*?(?:\]\]>)?\s*</link>", re.S | re.I)
_ATOM_LINK = re.compile(rb"<link\b([^>]*?)href=([\"']).*?\2", re.S | re.I)


def rewrite_links(feed: bytes, urls: list[str]) -> tuple[bytes, int]:
    """Point each item's link at one of `urls` (in turn); returns the feed and links used."""
    used = 0

    def item(match: re.Match[bytes]) -> bytes:
        nonlocal used
        url = urls[used % len(urls)].encode()
        used += 1
        text = match.group(0)
        text, n = _RSS_LINK.subn(b"<link>" + url + b"</link>", text, count=1)
        if n == 0:
            text = _ATOM_LINK.sub(
                lambda m: b"<link" + m.group(1) + b'href="' + url + b'"', text, count=1
            )
        return text

    return _ITEM.sub(item, feed), used


def realworld_feeds() -> list[Path]:
    return sorted(
        p
        for p in (REALWORLD / "feeds").rglob("*")
        if p.is_file() and p.suffix in (".rss", ".atom", ".xml", ".rdf")
    )
