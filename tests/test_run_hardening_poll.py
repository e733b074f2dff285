"""Hardening, through `monitor poll` (issue 7, cases 1 and 4): each hostile feed server stops at
its limit with an explicit error recorded on the feed, and the rest of the run goes on."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from pathlib import Path

import brotli
from rawserver import RawServer, drip_body, drip_headers, silent
from support import Site, serve_world

CAP = 200_000


def config(workdir: Path, feeds: dict[str, str]) -> None:
    lines = [
        "[fetch]",
        "per_host_delay = 0.0",
        "per_host_concurrency = 8",
        "deadline = 2.0",
        "read_timeout = 1.0",
        "connect_timeout = 1.0",
        f"max_bytes = {CAP}",
        "max_redirects = 5",
        "[extract]",
        "workers = 1",
    ]
    for name, url in feeds.items():
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"']
    (workdir / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_hostile_feed_servers_are_recorded_and_the_run_goes_on(
    site: Site, workdir: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    base = serve_world(site)
    http = site.server
    zeros = b"\0" * 20_000_000
    http.expect_request("/big-cl").respond_with_data(b"<rss>" + b"x" * (CAP * 2))
    http.expect_request("/big-chunked").respond_with_data(
        iter([b"<rss>", b"x" * CAP, b"x" * CAP])  # a generator: sent without Content-Length
    )
    http.expect_request("/gzip-bomb").respond_with_data(
        gzip.compress(zeros), headers={"Content-Encoding": "gzip"}
    )
    http.expect_request("/br-bomb").respond_with_data(
        brotli.compress(zeros, quality=5), headers={"Content-Encoding": "br"}
    )
    http.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    for i in range(20):
        http.expect_request(f"/hop{i}").respond_with_data(
            "", status=301, headers={"Location": f"/hop{i + 1}"}
        )
    http.expect_request("/to-metadata").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with (
        RawServer(silent) as mute,
        RawServer(drip_headers) as drip_h,
        RawServer(drip_body) as drip_b,
    ):
        feeds = {
            "good": f"{base}/rss2.xml",
            "big-cl": f"{base}/big-cl",
            "big-chunked": f"{base}/big-chunked",
            "gzip-bomb": f"{base}/gzip-bomb",
            "br-bomb": f"{base}/br-bomb",
            "loop": f"{base}/loop",
            "chain20": f"{base}/hop0",
            "to-metadata": f"{base}/to-metadata",
            "silent": mute.url("/feed"),
            "drip-headers": drip_h.url("/feed"),
            "drip-body": drip_b.url("/feed"),
        }
        config(workdir, feeds)
        assert run_cli("init").code == 0
        start = time.monotonic()
        result = run_cli("poll", "--all")
        took = time.monotonic() - start
    assert result.code == 0, result.err
    assert took < 15, took

    status = {f["name"]: f for f in json.loads(run_cli("status", "--json").out)["feeds"]}
    expected = {
        "big-cl": f"body too large: Content-Length {CAP * 2 + 5} > cap {CAP}",
        "big-chunked": f"body too large: more than {CAP} bytes",
        "gzip-bomb": f"body too large: more than {CAP} bytes",
        "br-bomb": f"body too large: more than {CAP} bytes",
        "loop": "too many redirects (more than 5)",
        "chain20": "too many redirects (more than 5)",
        "to-metadata": "refused: 169.254.169.254 resolves to non-public address 169.254.169.254",
        "silent": "timed out (ReadTimeout)",
        "drip-headers": "deadline of 2s exceeded",
        "drip-body": "deadline of 2s exceeded",
    }
    for name, error in expected.items():
        assert status[name]["state"] == "failing", name
        assert status[name]["last_error"] == error, name
        assert status[name]["consecutive_failures"] == 1, name
    assert status["good"]["state"] == "ok" and status["good"]["entries"] == 3
    db = workdir / "data" / "monitor.db"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM article").fetchone()[0]
        logged = conn.execute("SELECT count(*) FROM fetch_log WHERE error IS NOT NULL").fetchone()[
            0
        ]
    assert stored == 3 and logged == len(expected) + 1  # + the good feed's page that is 404


def test_entry_links_with_other_schemes_are_never_fetched(
    site: Site, workdir: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    items = "".join(
        f"<item><title>Item {i}</title><link>{link}</link><guid>g{i}</guid>"
        f"<description>Summary {i} of a story told in the feed itself.</description></item>"
        for i, link in enumerate(
            [
                "file:///etc/passwd",
                "javascript:alert(document.cookie)",
                " JaVaScRiPt:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "ftp://127.0.0.1/x",
            ]
        )
    )
    site.server.expect_request("/schemes.xml").respond_with_data(
        f'<rss version="2.0"><channel><title>s</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    config(workdir, {"schemes": site.url("/schemes.xml")})
    run_cli("init")
    assert run_cli("poll", "--all").code == 0
    assert [r.path for r, _ in site.server.log] == ["/schemes.xml"]
    with sqlite3.connect(workdir / "data" / "monitor.db") as conn:
        rows = conn.execute("SELECT url, status, extraction FROM article").fetchall()
        links = conn.execute("SELECT link FROM entry").fetchall()
    assert len(rows) == 5
    stored = [url for url, *_ in rows] + [link for (link,) in links]
    assert not [u for u in stored if u and ":" in u]  # no stored URL carries those schemes
    assert {r[2] for r in rows} == {"feed"}


def test_a_configured_feed_with_another_scheme_is_a_configuration_error(
    workdir: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    config(workdir, {"local": "file:///etc/passwd"})
    result = run_cli("poll", "--all")
    assert result.code == 2
    assert "only http(s) URLs are polled" in result.err and "Traceback" not in result.err
