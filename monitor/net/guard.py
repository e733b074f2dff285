"""Which URLs and addresses may be fetched: only http(s), only public addresses by default."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from monitor.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: IPv4-compatible (::/96,
# deprecated but still routed by some stacks) and NAT64's well-known prefix (RFC 6052), which
# a NAT64 gateway turns into a connection to that IPv4 address, private ones included.
_V4_IN_LOW_BITS = (ipaddress.ip_network("::/96"), ipaddress.ip_network("64:ff9b::/96"))
# Local-use NAT64 (RFC 8215): the embedding varies by network, so nothing in it is public.
_NEVER_PUBLIC = (ipaddress.ip_network("64:ff9b:1::/48"),)


def _embedded_v4(addr: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in a mapped, 6to4, Teredo, NAT64 or compatible IPv6 address."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr.teredo is not None:
            return addr.teredo[1]
        if any(addr in net for net in _V4_IN_LOW_BITS):
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public(addr: IPAddress) -> bool:
    """True for globally routable unicast addresses (metadata, CGNAT, multicast: not)."""
    if any(addr in net for net in _NEVER_PUBLIC):
        return False
    inner = _embedded_v4(addr)
    if inner is not None and not is_public(inner):
        return False
    return addr.is_global and not addr.is_multicast


class AddressPolicy:
    """Decides whether a host may be contacted; the exceptions come from configuration."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[Network] = []
        for item in allow:
            item = item.strip().lower().strip("[]")
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.hosts.add(item)

    def allows(self, host: str, addr: IPAddress, allow_private: bool = False) -> bool:
        if allow_private or is_public(addr):
            return True
        if host.lower() in self.hosts:
            return True
        return any(addr in net for net in self.networks if addr.version == net.version)


# A backslash, a space or a control character (code point below 33) anywhere in a URL.
_UNSAFE = re.compile(r"[\x00-\x20\\]")


def check_url(url: str) -> tuple[str, str, int]:
    """Validate the syntax of a URL we are about to fetch; return (scheme, host, port)."""
    if _UNSAFE.search(url):
        raise FetchError(
            url, "refused: URL contains a backslash, space or control character", hard=True
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(url, f"refused: malformed URL ({exc})", hard=True) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            url, f"refused: only http and https are fetched, not {scheme or 'none'}", hard=True
        )
    if "@" in parts.netloc:
        # user-info is ambiguous (`http://good.com@evil.com/`) and never needed for feeds
        raise FetchError(url, "refused: URLs with user-info are not fetched", hard=True)
    host = parts.hostname
    if not host:
        raise FetchError(url, "refused: URL has no host", hard=True)
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve(url: str, host: str, port: int) -> list[IPAddress]:
    """All addresses a host name resolves to (numeric forms like 0x7f.1 included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {host!r}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def guard(url: str, policy: AddressPolicy, allow_private: bool) -> tuple[str, str, int]:
    """Refuse the URL unless every address its host resolves to is allowed; return
    `check_url`'s (scheme, host, port)."""
    scheme, host, port = check_url(url)
    for addr in resolve(url, host, port):
        if not policy.allows(host, addr, allow_private):
            raise FetchError(
                url, f"refused: {host} resolves to non-public address {addr}", hard=True
            )
    return scheme, host, port


def check_peer(
    url: str, host: str, peer: str | None, policy: AddressPolicy, allow_private: bool
) -> None:
    """Check the address actually connected to (a DNS answer can change between lookups)."""
    if not peer:  # fail closed: a connection we cannot see is a connection we cannot trust
        raise FetchError(url, "refused: cannot tell which address was connected to", hard=True)
    try:
        addr = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        raise FetchError(
            url, f"refused: connected to unknown address {peer!r}", hard=True
        ) from None
    if not policy.allows(host, addr, allow_private):
        raise FetchError(url, f"refused: connected to non-public address {addr}", hard=True)
