"""The HTTP chokepoint against a real local server: guards, caps, redirects, conditional GET."""

from __future__ import annotations

import gzip
import ipaddress
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config.sections import FetchSettings
from monitor.errors import FetchError
from monitor.net.fetch import Fetcher, parse_retry_after
from monitor.net.guard import AddressPolicy, check_url, guard, is_public

LOCAL = FetchSettings(
    allow_hosts=("127.0.0.1",),
    per_host_delay=0.0,
    deadline=5.0,
    read_timeout=2.0,
    max_bytes=100_000,
    max_redirects=3,
)


@pytest.fixture
def fetcher() -> Fetcher:
    f = Fetcher(LOCAL)
    yield f  # type: ignore[misc]
    f.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="refused"):
        guard(url, AddressPolicy(), allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "data:text/html,hi",
        "javascript:alert(1)",
        "http://example.com\\@evil.com/",
        "http://user@evil.com/",
        "http://good.com@evil.com/",
        "http://exa mple.com/",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="refused"):
        check_url(url)


def test_public_and_allowed() -> None:
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    policy = AddressPolicy(["127.0.0.1", "10.0.0.0/8"])
    assert policy.allows("x", ipaddress.ip_address("10.2.3.4"))
    assert not policy.allows("x", ipaddress.ip_address("192.168.1.1"))
    assert AddressPolicy().allows("x", ipaddress.ip_address("192.168.1.1"), allow_private=True)


def test_conditional_get_and_user_agent(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    seen = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"e1"':
            return Response(status=304)
        return Response("<rss/>", headers={"ETag": '"e1"'})

    httpserver.expect_request("/f").respond_with_handler(handler)
    first = fetcher.get(httpserver.url_for("/f"))
    assert first.status == 200 and first.headers["etag"] == '"e1"'
    second = fetcher.get(httpserver.url_for("/f"), etag='"e1"')
    assert second.not_modified and second.content == b""
    assert seen[0]["User-Agent"].startswith("monitor/")


def test_redirects_are_followed_and_rechecked(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("final")
    with Fetcher(LOCAL) as f:
        resp = f.get(httpserver.url_for("/a"))
    assert resp.url.endswith("/b") and resp.content == b"final"
    # A redirect to the metadata address is refused at the hop.
    httpserver.expect_request("/evil").respond_with_data(
        "", status=301, headers={"Location": "http://169.254.169.254/latest/"}
    )
    with Fetcher(LOCAL) as f, pytest.raises(FetchError, match="refused"):
        f.get(httpserver.url_for("/evil"))


def test_redirect_loop_and_long_chain(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": "/loop"}
    )
    with pytest.raises(FetchError, match="too many redirects"):
        fetcher.get(httpserver.url_for("/loop"))
    for i in range(20):
        httpserver.expect_request(f"/hop{i}").respond_with_data(
            "", status=301, headers={"Location": f"/hop{i + 1}"}
        )
    with pytest.raises(FetchError, match="too many redirects"):
        fetcher.get(httpserver.url_for("/hop0"))


def test_size_cap_after_decompression(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # 5 MB of zeros in ~5 KB
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    httpserver.expect_request("/big").respond_with_data(b"x" * 200_000)
    with pytest.raises(FetchError, match="too large"):
        fetcher.get(httpserver.url_for("/bomb"))
    with pytest.raises(FetchError, match="too large"):
        fetcher.get(httpserver.url_for("/big"))


def test_http_errors_and_retry_after(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    httpserver.expect_request("/busy").respond_with_data(
        "", status=503, headers={"Retry-After": "120"}
    )
    with pytest.raises(FetchError) as gone:
        fetcher.get(httpserver.url_for("/gone"))
    assert gone.value.hard and gone.value.status == 410
    with pytest.raises(FetchError) as busy:
        fetcher.get(httpserver.url_for("/busy"))
    assert not busy.value.hard and busy.value.retry_after == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0


def test_slow_server_hits_the_deadline(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        def drip():  # type: ignore[no-untyped-def]
            for _ in range(30):
                yield b"x"
                time.sleep(0.2)

        return Response(drip())

    httpserver.expect_request("/slow").respond_with_handler(slow)
    settings = FetchSettings(
        allow_hosts=("127.0.0.1",), per_host_delay=0.0, deadline=1.0, read_timeout=1.0
    )
    start = time.monotonic()
    with Fetcher(settings) as f, pytest.raises(FetchError, match="deadline"):
        f.get(httpserver.url_for("/slow"))
    assert time.monotonic() - start < 3.0
