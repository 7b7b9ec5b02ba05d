"""SSRF guard for tenant webhook URLs: parse strictly, resolve once, refuse any non-public address.

The caller then connects to one of `Target.addresses` (never re-resolving), sending `Target.host`
as the Host header and TLS server name, so DNS rebinding between check and connect has no effect.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

# (host, port) -> IP address strings. The default uses socket.getaddrinfo.
Resolver = Callable[[str, int], list[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that `is_global` lets through (or may, depending on the Python patch release) but that must
# never be a webhook target: they embed or tunnel to IPv4 addresses we cannot check, or are not unicast.
_EXTRA_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "100.64.0.0/10",  # CGNAT
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",  # documentation
        "198.18.0.0/15",  # benchmarking
        "240.0.0.0/4",
        "255.255.255.255/32",  # reserved, broadcast
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b::/96",
        "64:ff9b:1::/48",  # NAT64
        "2001::/32",  # Teredo
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "fec0::/10",  # site-local (deprecated)
    )
]
_HOSTNAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Not unicast destinations at all: refused even when private addresses are allowed.
_NEVER_ALLOWED = {"unspecified address", "multicast address", "malformed address"}


class UnsafeWebhookURL(ValueError):
    """The URL may not be used as a webhook target; the message is safe to show to the tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook URL is not allowed: {reason}")
        self.reason = reason


class UnresolvableWebhookHost(UnsafeWebhookURL):
    """The host did not resolve: refused at registration, but a transient failure at send time."""


@dataclass(frozen=True)
class Target:
    """A checked webhook target: where to connect and what to send as Host / TLS server name."""

    scheme: str
    host: str  # as the tenant wrote it (IDNA-encoded, lower case): Host header and SNI
    port: int
    path: str  # path and query, percent-encoded as sent; never empty
    addresses: tuple[str, ...]  # checked IPs (IPv4-mapped IPv6 unwrapped), in resolver order

    @property
    def host_header(self) -> str:
        """The Host header value: host, bracketed when IPv6, with the port when not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def pinned_url(self, address: str | None = None) -> httpx.URL:
        """The URL with its host replaced by a checked address (the first by default)."""
        address = address or self.addresses[0]
        if address not in self.addresses:
            raise ValueError("address was not checked for this target")
        return httpx.URL(scheme=self.scheme, host=address, port=self.port, raw_path=self.path.encode("ascii"))


def default_resolver(host: str, port: int) -> list[str]:
    """All addresses `socket.getaddrinfo` gives for host (numeric forms like `127.1` resolve locally)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def blocked_reason(address: str) -> str | None:
    """Why an address is not a public unicast target ("loopback", "private", ...), or None if it is."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "malformed address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    for reason, hit in (
        ("unspecified address", ip.is_unspecified),
        ("loopback address", ip.is_loopback),
        ("link-local address", ip.is_link_local),
        ("multicast address", ip.is_multicast),
        ("private address", ip.is_private),
        ("reserved address", ip.is_reserved),
    ):
        if hit:
            return reason
    if any(ip.version == net.version and ip in net for net in _EXTRA_BLOCKED) or not ip.is_global:
        return "non-public address"
    return None


def _normalise(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Parse and resolve `url` once; raise `UnsafeWebhookURL` unless every address is allowed.

    https only, unless `allow_private` (demo and tests), which also allows loopback and private
    addresses; no other scheme, no user info, no non-public address ever without it.
    """
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        raise UnsafeWebhookURL("malformed URL")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError):
        raise UnsafeWebhookURL("malformed URL") from None
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in allowed_schemes:
        raise UnsafeWebhookURL("the scheme must be https" if parsed.scheme == "http" else "unsupported scheme")
    if parsed.userinfo:
        raise UnsafeWebhookURL("user info in the URL")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise UnsafeWebhookURL("missing host")
    if ":" in host:
        if "%" in host:
            raise UnsafeWebhookURL("IPv6 zone identifiers are not supported")
    elif not _HOSTNAME.match(host):
        raise UnsafeWebhookURL("malformed host")
    port = _DEFAULT_PORTS[parsed.scheme] if port is None else port
    if not 0 < port < 65536:
        raise UnsafeWebhookURL("invalid port")

    resolve = resolver or default_resolver
    try:
        resolved = resolve(host, port)
    except (OSError, UnicodeError):
        raise UnresolvableWebhookHost("the host does not resolve") from None
    if not resolved:
        raise UnresolvableWebhookHost("the host does not resolve")
    for address in resolved:
        reason = blocked_reason(address)
        if reason is not None and not (allow_private and reason not in _NEVER_ALLOWED):
            raise UnsafeWebhookURL(f"the host resolves to a {reason}")
    addresses = tuple(dict.fromkeys(_normalise(a) for a in resolved))
    return Target(parsed.scheme, host.rstrip("."), port, parsed.raw_path.decode("ascii") or "/", addresses)
