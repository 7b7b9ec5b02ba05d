"""The SSRF guard: a table of refused URL forms and the accepted public ones (no real DNS anywhere)."""

from __future__ import annotations

import socket

import pytest

from credential_health.notify.ssrf import UnresolvableWebhookHost, UnsafeWebhookURL, blocked_reason, check_url

PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:2800:220:1::1"
NAMES = {
    "localhost": ["127.0.0.1"],
    "internal.tenant.test": ["10.1.2.3"],
    "mixed.tenant.test": [PUBLIC_V4, "192.168.0.10"],
    "mapped.tenant.test": ["::ffff:10.0.0.1"],
    "metadata.tenant.test": ["169.254.169.254"],
    "hooks.example.com": [PUBLIC_V4],
    "v6.example.com": [PUBLIC_V6],
    "both.example.com": [PUBLIC_V6, f"::ffff:{PUBLIC_V4}"],
}


def stub(host: str, port: int) -> list[str]:
    """Names from NAMES; IP literals and numeric forms through libc with AI_NUMERICHOST (never DNS)."""
    if host in NAMES:
        return NAMES[host]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return [info[4][0] for info in infos]


REFUSED = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://127.1/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://0x7f000001/hook", "loopback"),
    ("https://017700000001/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://metadata.tenant.test/", "link-local"),
    ("https://[::ffff:169.254.169.254]/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://172.31.255.254/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fc00::1]/", "private"),
    ("https://100.64.0.1/", "address"),  # CGNAT
    ("https://198.18.0.1/", "address"),  # benchmarking
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[64:ff9b::a9fe:a9fe]/", "address"),  # NAT64 of 169.254.169.254
    ("https://[2002:7f00:1::1]/", "address"),  # 6to4 of 127.0.0.1
    ("https://[2001::1]/", "address"),  # Teredo
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://240.0.0.1/", "address"),  # reserved
    ("https://internal.tenant.test/hook", "private"),
    ("https://mixed.tenant.test/hook", "private"),  # ANY non-public address refuses
    ("https://mapped.tenant.test/hook", "private"),
    (f"http://{PUBLIC_V4}/hook", "scheme must be https"),
    ("http://hooks.example.com/hook", "scheme must be https"),
    ("file:///etc/passwd", "scheme"),
    ("ftp://example.com/", "scheme"),
    ("gopher://hooks.example.com/", "scheme"),
    ("https://user:pw@hooks.example.com/", "user info"),
    ("https://hooks.example.com\\@127.0.0.1/", "malformed"),
    ("https://hooks.example.com /", "malformed"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https://hooks.example.com:0/", "port"),
    ("https:///no-host", "host"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeWebhookURL) as exc:
        check_url(url, allow_private=False, resolver=stub)
    message = str(exc.value)
    assert message.startswith("webhook URL is not allowed: ") and reason in message
    for detail in ("127.", "10.1.2.3", "192.168", "169.254", "::1"):  # a category, never the address
        assert detail not in message


def test_table_has_at_least_twenty_forms() -> None:
    assert len(REFUSED) >= 20


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "017700000001", "0"])
def test_numeric_forms_refused_through_the_default_resolver(host: str) -> None:
    try:  # only when libc parses the form itself; otherwise getaddrinfo would ask DNS
        socket.getaddrinfo(host, 443, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pytest.skip(f"this libc does not treat {host} as numeric")
    with pytest.raises(UnsafeWebhookURL):
        check_url(f"https://{host}/hook", allow_private=False)


def test_unresolvable_host_is_its_own_refusal() -> None:
    with pytest.raises(UnresolvableWebhookHost, match="does not resolve"):
        check_url("https://nowhere.tenant.test/", allow_private=False, resolver=stub)
    with pytest.raises(UnresolvableWebhookHost):
        check_url("https://empty.tenant.test/", allow_private=False, resolver=lambda h, p: [])


def test_public_addresses_are_accepted_and_pinned() -> None:
    target = check_url("https://Hooks.Example.com/cb/t-1?x=1#frag", allow_private=False, resolver=stub)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 443, "/cb/t-1?x=1")
    assert target.addresses == (PUBLIC_V4,)
    assert target.host_header == "hooks.example.com"
    assert str(target.pinned_url()) == f"https://{PUBLIC_V4}/cb/t-1?x=1"

    v6 = check_url("https://v6.example.com:8443/", allow_private=False, resolver=stub)
    assert v6.addresses == (PUBLIC_V6,) and v6.host_header == "v6.example.com:8443"
    assert str(v6.pinned_url()) == f"https://[{PUBLIC_V6}]:8443/"
    both = check_url("https://both.example.com/", allow_private=False, resolver=stub)
    assert both.addresses == (PUBLIC_V6, PUBLIC_V4)  # IPv4-mapped unwrapped
    literal = check_url(f"https://{PUBLIC_V4}/", allow_private=False)  # a literal: no lookup
    assert literal.addresses == (PUBLIC_V4,)
    idn = check_url("https://bücher.example/", allow_private=False, resolver=lambda h, p: [PUBLIC_V4])
    assert idn.host == "xn--bcher-kva.example"


def test_pinned_url_only_takes_checked_addresses() -> None:
    target = check_url("https://hooks.example.com/", allow_private=False, resolver=stub)
    with pytest.raises(ValueError):
        target.pinned_url("127.0.0.1")


def test_allow_private_admits_http_and_loopback_but_not_other_schemes() -> None:
    target = check_url("http://127.0.0.1:8090/hooks/t-1", allow_private=True)
    assert (target.scheme, target.port, target.addresses) == ("http", 8090, ("127.0.0.1",))
    assert target.host_header == "127.0.0.1:8090"
    assert check_url("http://localhost:8090/", allow_private=True, resolver=stub).addresses == ("127.0.0.1",)
    assert check_url("https://10.0.0.1/", allow_private=True, resolver=stub).addresses == ("10.0.0.1",)
    for url in (
        "file:///etc/passwd",
        "ftp://example.com/",
        "http://user:pw@127.0.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0:8090/",
    ):
        with pytest.raises(UnsafeWebhookURL):
            check_url(url, allow_private=True, resolver=stub)


def test_blocked_reason_on_addresses() -> None:
    assert blocked_reason(PUBLIC_V4) is None and blocked_reason(PUBLIC_V6) is None
    assert blocked_reason("8.8.8.8") is None
    assert blocked_reason("::ffff:127.0.0.1") == "loopback address"
    assert blocked_reason("64:ff9b::808:808") is not None  # NAT64, even of a public IPv4
    assert blocked_reason("2002:808:808::1") == "non-public address"  # 6to4, even of a public IPv4
    assert blocked_reason("not-an-ip") == "malformed address"
