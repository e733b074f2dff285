"""Hardening, outbound requests (issue 7, cases 1-5): the fetch chokepoint against hostile
URLs, addresses and servers on 127.0.0.1. Basics live in test_net_fetch.py; these are the attacks."""

from __future__ import annotations

import dataclasses
import gzip
import socket
import ssl
import subprocess
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli
import pytest
from pytest_httpserver import HTTPServer
from rawserver import (
    RESETS,
    RawServer,
    drip_body,
    drip_headers,
    lying_length,
    redirect_to,
    reset,
    respond,
    silent,
)

from monitor.config.sections import FetchSettings
from monitor.errors import FetchError
from monitor.net.fetch import Fetcher
from monitor.net.guard import AddressPolicy, guard

CAP = 100_000
LOCAL = FetchSettings(
    allow_hosts=("127.0.0.1",),
    per_host_delay=0.0,
    deadline=1.5,
    read_timeout=1.0,
    connect_timeout=1.0,
    max_bytes=CAP,
    max_redirects=5,
)
BOMB_SIZE = 50_000_000  # inflated size; the cap is 100 KB


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as f:
        yield f


# -- case 1: only http(s) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "data:,x", "JavaScript:alert(1)", "gopher://x/"],
)
def test_other_schemes_are_never_fetched(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="refused: only http and https") as err:
        fetcher.get(url)
    assert err.value.hard


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/", "data:,x", "javascript:alert(1)"]
)
def test_a_redirect_to_another_scheme_is_refused(
    httpserver: HTTPServer, fetcher: Fetcher, target: str
) -> None:
    httpserver.expect_request("/r").respond_with_data("", status=302, headers={"Location": target})
    with pytest.raises(FetchError, match="refused") as err:
        fetcher.get(httpserver.url_for("/r"))
    assert err.value.hard
    assert [r.path for r, _ in httpserver.log] == ["/r"]


# -- case 2: non-public addresses, DNS rebinding --------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:7f00:1]/",  # IPv4-mapped, hex form
        "http://[::ffff:169.254.169.254]/",  # mapped metadata address
        "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated, still routed by some stacks)
        "http://[64:ff9b::10.0.0.1]/",  # NAT64 well-known prefix to a private address
        "http://[64:ff9b:1::a9fe:a9fe]/",  # local-use NAT64
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",  # the IPv6 metadata address of one cloud
        "http://100.100.100.200/",  # the metadata address of another (CGNAT range)
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "http://0/",
        "http://LOCALHOST/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.0.1/",
    ],
)
def test_more_non_public_forms_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="refused"):
        guard(url, AddressPolicy(), allow_private=False)


def test_nat64_of_a_public_address_is_public() -> None:
    guard("http://[64:ff9b::808:808]/", AddressPolicy(), allow_private=False)


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`rebind.test` resolves to a public address for the guard's lookup, then to 127.0.0.1
    for the connection: what a DNS rebinding attacker with a TTL of 0 does."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def fake(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addr = "93.184.216.34" if len(calls) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def test_dns_rebinding_is_caught_at_the_connected_address(
    httpserver: HTTPServer, rebinding: list[str]
) -> None:
    httpserver.expect_request("/secret").respond_with_data("internal data")
    url = f"http://rebind.test:{httpserver.port}/secret"
    with (
        Fetcher(FetchSettings(per_host_delay=0.0, deadline=3.0)) as f,
        pytest.raises(FetchError, match=r"refused: connected to non-public address 127\.0\.0\.1"),
    ):
        f.get(url)
    assert len(rebinding) == 2  # the guard's lookup, then the connection's
    assert httpserver.log == []  # refused right after connect: not one byte of request sent


def test_dns_rebinding_on_a_redirect_hop(httpserver: HTTPServer, rebinding: list[str]) -> None:
    # The feed itself is allowed by name (a bridge on localhost); the hop's host is not.
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": f"http://rebind.test:{httpserver.port}/secret"}
    )
    httpserver.expect_request("/secret").respond_with_data("internal data")
    settings = FetchSettings(allow_hosts=("localhost",), per_host_delay=0.0, deadline=3.0)
    with Fetcher(settings) as f, pytest.raises(FetchError, match="connected to non-public"):
        f.get(f"http://localhost:{httpserver.port}/feed")
    assert [r.path for r, _ in httpserver.log] == ["/feed"]


def test_a_private_feed_allowance_covers_its_own_fetches_only(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_data("ok")
    with (
        Fetcher(FetchSettings(per_host_delay=0.0)) as f,
        pytest.raises(FetchError, match="refused"),
    ):
        f.get(httpserver.url_for("/f"))
        assert f.get(httpserver.url_for("/f"), allow_private=True).content == b"ok"


# -- case 3: backslashes and user-info, also on a redirect hop -------------------------------


@pytest.mark.parametrize(
    "location",
    [
        b"http://127.0.0.1\\@169.254.169.254/",
        b"http://127.0.0.1:1@169.254.169.254/",
        b"http://user:pw@127.0.0.1/",
        b"/\\169.254.169.254/latest/",  # a browser reads this as //169.254.169.254/
        b"\\\\169.254.169.254/",
        b"http://127.0.0.1/a b",
        b"http://[::1/",
        b"http://127.0.0.1:99999/",
    ],
)
def test_ambiguous_redirect_targets_are_refused(location: bytes) -> None:
    with (
        RawServer(redirect_to(location)) as server,
        Fetcher(LOCAL) as f,
        pytest.raises(FetchError, match="refused") as err,
    ):
        f.get(server.url("/r"))
        assert err.value.hard
        assert server.connections == 1


# -- case 4: size caps, bombs, slow and silent servers ----------------------------------------


def _peak_mb(fn) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 1e6


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = b"\0" * BOMB_SIZE
    return {
        "gzip": gzip.compress(zeros, 9),
        "br": brotli.compress(zeros, quality=5),
        "deflate": zlib.compress(zeros, 9),
    }


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
def test_decompression_bombs_stop_at_the_cap_in_bounded_memory(
    fetcher: Fetcher, bombs: dict[str, bytes], coding: str
) -> None:
    # A raw server: werkzeug's own buffers would blur the client's peak.
    with RawServer(respond(bombs[coding], {"Content-Encoding": coding})) as server:

        def fetch() -> None:
            with pytest.raises(FetchError, match=f"body too large: more than {CAP} bytes"):
                fetcher.get(server.url("/bomb"))

        # 50 MB inflated would show here; the decoder hands out 64 KB at a time.
        assert _peak_mb(fetch) < 3


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "br", "deflate", "raw-deflate"])
def test_each_advertised_coding_decodes(
    httpserver: HTTPServer, fetcher: Fetcher, coding: str
) -> None:
    body = b"<rss>" + b"news " * 5000 + b"</rss>"
    packed = {
        "gzip": gzip.compress(body),
        "x-gzip": gzip.compress(body),
        "br": brotli.compress(body),
        "deflate": zlib.compress(body),
        "raw-deflate": zlib.compress(body)[2:-4],
    }[coding]
    name = "deflate" if coding == "raw-deflate" else coding
    httpserver.expect_request("/c").respond_with_data(packed, headers={"Content-Encoding": name})
    assert fetcher.get(httpserver.url_for("/c")).content == body
    sent = httpserver.log[0][0].headers["Accept-Encoding"]
    assert sent == "gzip, deflate, br"  # nothing we could not decode in bounded steps


def test_corrupt_or_unknown_coding_is_an_error(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/bad").respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_request("/zstd").respond_with_data(b"x", headers={"Content-Encoding": "zstd"})
    with pytest.raises(FetchError, match="cannot decode body"):
        fetcher.get(httpserver.url_for("/bad"))
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'zstd'"):
        fetcher.get(httpserver.url_for("/zstd"))


def test_declared_length_over_the_cap_is_refused_unread() -> None:
    with (
        RawServer(lying_length(5_000_000, 5_000_000)) as server,
        Fetcher(LOCAL) as f,
        pytest.raises(FetchError, match=r"Content-Length 5000000 > cap"),
    ):
        f.get(server.url())


def test_a_short_declared_length_reads_no_more_than_declared() -> None:
    with RawServer(lying_length(100, 5_000_000)) as server, Fetcher(LOCAL) as f:
        assert len(f.get(server.url()).content) == 100


def test_a_long_declared_length_with_a_short_body_is_an_error() -> None:
    with (
        RawServer(lying_length(50_000, 10)) as server,
        Fetcher(LOCAL) as f,
        pytest.raises(FetchError, match="RemoteProtocolError"),
    ):
        f.get(server.url())


def test_no_content_length_over_the_cap() -> None:
    with (
        RawServer(_unlength(5_000_000)) as server,
        Fetcher(LOCAL) as f,
        pytest.raises(FetchError, match="more than 100000 bytes"),
    ):
        f.get(server.url())


def _unlength(size: int):  # type: ignore[no-untyped-def]
    def handler(conn: socket.socket, stop) -> None:  # type: ignore[no-untyped-def]
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(size // 65536 + 1):
            conn.sendall(b"x" * 65536)

    return handler


@pytest.mark.parametrize("handler", [drip_headers, drip_body], ids=["headers", "body"])
def test_a_dripping_server_is_cut_at_the_deadline(handler) -> None:  # type: ignore[no-untyped-def]
    # Every read succeeds within read_timeout; only the total deadline can stop this.
    with RawServer(handler) as server, Fetcher(LOCAL) as f:
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"deadline of 1.5s exceeded"):
            f.get(server.url())
        assert time.monotonic() - start < LOCAL.deadline + 0.5


def test_a_server_that_never_answers_times_out() -> None:
    with RawServer(silent) as server, Fetcher(LOCAL) as f:
        start = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            f.get(server.url())
        assert time.monotonic() - start < LOCAL.read_timeout + 0.5


# -- case 5: TLS errors are errors ----------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[HTTPServer]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"openssl (Debian package openssl) must make a test certificate: {exc}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/feed").respond_with_data("<rss/>")
    server.start()
    yield server
    server.clear()
    server.stop()


def test_a_self_signed_certificate_fails_without_an_insecure_retry(tls_server: HTTPServer) -> None:
    url = f"https://127.0.0.1:{tls_server.port}/feed"
    with Fetcher(LOCAL) as f, pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED") as err:
        f.get(url)
    assert err.value.hard
    assert tls_server.log == []  # no request ever completed: no fallback without checks


@pytest.mark.parametrize("at", RESETS)
def test_a_reset_connection_is_one_transient_fetch_error(fetcher: Fetcher, at: str) -> None:
    """Issue 14: a reset at connect (where getpeername() can fail with ENOTCONN inside the
    connect hook), after the request, mid-headers or mid-body is that request's failure:
    a FetchError marked transient (the page is retried), never an OSError or an httpx error
    that would end the cycle. Many at once, so that every path is taken."""
    with RawServer(reset(at)) as server:

        def one(i: int) -> BaseException | None:
            try:
                fetcher.get(server.url(f"/page/{i}"))
            except BaseException as exc:  # the test looks at what escapes
                return exc
            return None

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(one, range(24)))
    for exc in outcomes:
        assert isinstance(exc, FetchError), repr(exc)
        assert exc.transient, exc.message


def test_the_deadline_does_not_run_while_waiting_for_the_host() -> None:
    """Issue 14: the deadline measures the request, not the wait for the host's politeness
    slot: ten requests to one host 0.3 s apart all succeed under a 0.5 s deadline."""
    settings = dataclasses.replace(LOCAL, deadline=0.5, per_host_delay=0.3, per_host_concurrency=1)
    body = b"<html><body>ok</body></html>"
    with (
        RawServer(respond(body, {"Content-Type": "text/html"})) as server,
        Fetcher(settings) as fetcher,
        ThreadPoolExecutor(10) as pool,
    ):
        start = time.monotonic()
        results = list(pool.map(lambda i: fetcher.get(server.url(f"/p{i}")), range(10)))
        took = time.monotonic() - start
    assert [r.content for r in results] == [body] * 10
    assert took >= 2.7  # the politeness was kept...
    assert max(r.elapsed for r in results) < 0.5  # ...and is not what a request is timed by


def test_a_deadline_expiring_at_connect_is_a_fetch_error() -> None:
    """Issue 14: when the deadline passes as the connection comes up, the socket is shut
    before the connect hook reads its peer address (getpeername: ENOTCONN). That OSError
    used to escape and end the whole cycle; it is this request's FetchError."""
    settings = dataclasses.replace(
        LOCAL, deadline=0.0005, per_host_delay=0.0, per_host_concurrency=8
    )
    with (
        RawServer(respond(b"<html></html>", {"Content-Type": "text/html"})) as server,
        Fetcher(settings) as fetcher,
        ThreadPoolExecutor(8) as pool,
    ):

        def one(i: int) -> BaseException | None:
            try:
                fetcher.get(server.url(f"/p{i}"))
            except BaseException as exc:  # the test looks at what escapes
                return exc
            return None

        outcomes = list(pool.map(one, range(120)))
    assert all(isinstance(exc, FetchError) or exc is None for exc in outcomes), {
        repr(exc) for exc in outcomes if not isinstance(exc, FetchError)
    }
