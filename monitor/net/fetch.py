"""The one outbound HTTP chokepoint: address checks, timeouts, size caps, politeness.

Every request of the program goes through `Fetcher.get`. Redirects are followed by hand so
that each hop is checked again; the body is read in chunks so the size cap applies after
decompression and the total deadline is enforced while reading.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from monitor.config.sections import FetchSettings
from monitor.errors import FetchError
from monitor.net.decoding import ACCEPT_ENCODING, DecodeError, decode_body
from monitor.net.guard import AddressPolicy, check_peer, guard

REDIRECTS = {301, 302, 303, 307, 308}
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
# HTTP statuses that say "try again later": the page is retried (monitor.run.pipeline).
TRANSIENT_STATUSES = frozenset({408, 425, 429})
LONG_WAIT = 10.0  # seconds in a host's queue after which a log line says so

log = logging.getLogger("monitor.fetch")


@dataclass(frozen=True)
class Response:
    url: str  # the final URL, after redirects
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed: float  # seconds, all hops included

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass
class _Host:
    semaphore: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    waiting: int = 0  # requests queued for a slot of this host


class HostLimiter:
    """At most `concurrency` requests in flight per host, starts spaced by `delay` seconds.

    Waiting here is politeness, not a failure: no deadline runs meanwhile (`Fetcher.get`
    starts it once the slot is taken), and a wait longer than LONG_WAIT is logged with the
    number of requests queued for that host.
    """

    def __init__(self, concurrency: int, delay: float) -> None:
        self.concurrency = max(1, concurrency)
        self.delay = max(0.0, delay)
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def queued(self) -> dict[str, int]:
        """Requests waiting for a slot, per host (hosts with none left out)."""
        with self._lock:
            return {h: s.waiting for h, s in self._hosts.items() if s.waiting}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            state = self._hosts.setdefault(host, _Host(threading.Semaphore(self.concurrency)))
            state.waiting += 1
        queued_at = time.monotonic()
        counted = True
        try:
            with state.semaphore:
                with state.lock:
                    now = time.monotonic()
                    start = max(now, state.next_start)
                    state.next_start = start + self.delay
                if start > now:
                    time.sleep(start - now)
                with self._lock:
                    state.waiting -= 1
                    counted, queued = False, state.waiting
                waited = time.monotonic() - queued_at
                if waited >= LONG_WAIT:
                    log.info("waited for host host=%s seconds=%.0f queued=%d", host, waited, queued)
                yield
        finally:
            if counted:
                with self._lock:
                    state.waiting -= 1


class _Watch:
    """Watches the connection of one request through httpcore's `trace` hook.

    The peer address is checked the moment the TCP connection is up, before a byte of the
    request is sent (DNS can answer differently to our check and to the connect). And the
    socket is cut when the total deadline passes: httpx's timeouts are per read, so a
    server dripping one byte at a time (even in the headers) would otherwise hold us forever.
    """

    def __init__(
        self, deadline: float, check_peer: Callable[[str | None], None], clock: _Deadlines
    ) -> None:
        self.check_peer = check_peer
        self.expired = False
        self.peer_checked = False
        self.cancelled = False
        self._streams: list[Any] = []
        self._lock = threading.Lock()
        self._clock = clock
        clock.add(deadline, self)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        if stream is None:
            return
        with self._lock:
            self._streams.append(stream)
            expired = self.expired
        if expired:
            self._cut()
        if event == "connection.connect_tcp.complete":
            try:
                # getpeername() fails (ENOTCONN) on a connection reset at once, or cut by
                # the deadline just before: that is this request's failure, nothing more.
                addr = stream.get_extra_info("server_addr")
                self.check_peer(str(addr[0]) if addr else None)
            except (FetchError, OSError):
                with contextlib.suppress(Exception):
                    stream.close()
                raise
            self.peer_checked = True

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            streams = list(self._streams)
        for stream in streams:
            sock = stream.get_extra_info("socket")
            # shutdown, not close: it wakes a recv() blocked in another thread
            with contextlib.suppress(OSError, AttributeError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._streams.clear()
        self._clock.cancel()


class _Deadlines:
    """One thread cuts the requests whose total deadline has passed (`_Watch._cut`).

    A timer thread per request cost a thread start and stop per page. This thread runs only
    while requests are in flight: it ends when none is left and starts again with the next.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._active = 0  # watches added and not cancelled
        self._cond = threading.Condition()
        self._running = False

    def add(self, deadline: float, watch: _Watch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), watch))
            self._active += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="fetch-deadlines", daemon=True).start()
            elif self._heap[0][2] is watch:  # sooner than what the thread waits for
                self._cond.notify()

    def cancel(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if self._active == 0 or not self._heap:
                        self._heap.clear()
                        self._running = False
                        return
                    deadline, _, watch = self._heap[0]
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            watch._cut()  # outside the lock: it shuts sockets down


class Fetcher:
    """A shared, thread-safe HTTP client. Close it when the run ends."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.policy = AddressPolicy(settings.allow_hosts)
        self.limiter = HostLimiter(settings.per_host_concurrency, settings.per_host_delay)
        self._deadlines = _Deadlines()
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.deadline,
        )
        # No keep-alive: every request gets its own connection, so the address connected to
        # is checked for each request and the deadline can cut exactly that request's socket.
        limits = httpx.Limits(
            max_connections=max(4, settings.concurrency * 2), max_keepalive_connections=0
        )
        # verify=True always: a TLS error is an error, never retried without checks.
        self.client = httpx.Client(
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            # Set here so httpx never advertises a coding (zstd…) contentcoding cannot bound.
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            verify=True,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_private: bool = False,
        accept: str = PAGE_ACCEPT,
    ) -> Response:
        """GET with conditional headers; returns 200 and 304 responses, raises FetchError.

        The deadline measures the requests, not the wait for the host's politeness slot:
        its clock runs from when each hop is sent, over all hops together.
        """
        budget = self.settings.deadline
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        elapsed = 0.0
        for _hop in range(self.settings.max_redirects + 1):
            _, host, _ = guard(current, self.policy, allow_private)
            with self.limiter.slot(host):
                sent = time.monotonic()
                try:
                    status, resp_headers, content, location = self._one(
                        current, host, headers, sent + budget - elapsed, allow_private
                    )
                finally:
                    elapsed += time.monotonic() - sent
            if status in REDIRECTS and location:
                current = urljoin(current, location)
                continue
            if status in (200, 304) or (200 <= status < 300 and status != 204):
                return Response(current, status, resp_headers, content, elapsed)
            raise _status_error(current, status, resp_headers)
        raise FetchError(
            url, f"too many redirects (more than {self.settings.max_redirects})", hard=True
        )

    def _one(
        self, url: str, host: str, headers: dict[str, str], deadline: float, allow_private: bool
    ) -> tuple[int, dict[str, str], bytes, str | None]:
        def peer_ok(peer: str | None) -> None:
            check_peer(url, host, peer, self.policy, allow_private)

        watch = _Watch(deadline, peer_ok, self._deadlines)
        try:
            return self._read(url, headers, deadline, watch)
        except httpx.TimeoutException as exc:
            if watch.expired:
                raise self._late(url) from None
            raise FetchError(url, f"timed out ({type(exc).__name__})", transient=True) from None
        except DecodeError as exc:
            raise FetchError(url, f"cannot decode body: {exc}", hard=True) from None
        except httpx.InvalidURL as exc:  # httpx parses a Location even when not following it
            raise FetchError(
                url, f"refused: invalid URL or redirect target ({exc})", hard=True
            ) from None
        except httpx.HTTPError as exc:
            if watch.expired:
                raise self._late(url) from None
            if "location header" in str(exc):  # httpx's words for a Location it cannot parse
                raise FetchError(
                    url, f"refused: invalid redirect target ({exc})", hard=True
                ) from None
            hard = "CERTIFICATE" in str(exc).upper() or "SSL" in str(exc).upper()
            raise FetchError(
                url, f"{type(exc).__name__}: {exc}", hard=hard, transient=not hard
            ) from None
        except (OSError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            # Raised around httpx's own mapping (from the trace hook, or a socket call of
            # ours): a connection reset or cut is this request's failure, never the run's.
            if watch.expired:
                raise self._late(url) from None
            raise FetchError(
                url, f"connection failed: {type(exc).__name__}: {exc}", transient=True
            ) from None
        finally:
            watch.cancel()

    def _late(self, url: str) -> FetchError:
        return FetchError(url, f"deadline of {self.settings.deadline:g}s exceeded", transient=True)

    def _read(
        self, url: str, headers: dict[str, str], deadline: float, watch: _Watch
    ) -> tuple[int, dict[str, str], bytes, str | None]:
        cap = self.settings.max_bytes
        with self.client.stream(
            "GET", url, headers=headers, extensions={"trace": watch.trace}
        ) as resp:
            if not watch.peer_checked:  # fail closed: never use an unchecked connection
                stream = resp.extensions.get("network_stream")
                peer = stream.get_extra_info("server_addr") if stream is not None else None
                watch.check_peer(str(peer[0]) if peer else None)
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status_code >= 300:
                return resp.status_code, resp_headers, b"", resp.headers.get("location")
            declared = resp.headers.get("content-length", "")
            encoding = resp_headers.get("content-encoding")
            if declared.isdigit() and int(declared) > cap and not encoding:
                raise FetchError(url, f"body too large: Content-Length {declared} > cap {cap}")
            chunks: list[bytes] = []
            size = 0
            # Decoded here, in bounded steps: the cap counts real bytes, and a bomb stops at it.
            for chunk in decode_body(resp.iter_raw(), encoding):
                size += len(chunk)
                if size > cap:
                    raise FetchError(url, f"body too large: more than {cap} bytes")
                if time.monotonic() > deadline:
                    raise self._late(url)
                chunks.append(chunk)
            if watch.expired:  # a cut socket can look like a normal end of a body
                raise self._late(url)
            return resp.status_code, resp_headers, b"".join(chunks), None


def _status_error(url: str, status: int, headers: Mapping[str, str]) -> FetchError:
    transient = status in TRANSIENT_STATUSES or status >= 500
    retry = parse_retry_after(headers.get("retry-after")) if transient else None
    # 4xx other than 408/425/429 will not fix themselves: they weigh more in the back-off.
    hard = 400 <= status < 500 and not transient
    return FetchError(
        url,
        f"HTTP {status}",
        hard=hard,
        status=status,
        retry_after=retry,
        transient=transient,
    )
