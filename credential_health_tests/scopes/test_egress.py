"""egress_allowlisted: our addresses against a key's reported allowlist (addresses or CIDR blocks)."""

from __future__ import annotations

import pytest

from credential_health.scopes.probe import egress_allowlisted
from credential_health.scopes.record import ScopeRecord


@pytest.mark.parametrize(
    ("record", "ours", "expected"),
    [
        (ScopeRecord(ip_restricted=True, ip_allowlist=("203.0.113.7",)), ["203.0.113.7"], True),
        (ScopeRecord(ip_restricted=True, ip_allowlist=("203.0.113.0/24",)), ["203.0.113.7", "203.0.113.8"], True),
        (ScopeRecord(ip_restricted=True, ip_allowlist=("203.0.113.0/24",)), ["203.0.113.7", "198.51.100.1"], False),
        (ScopeRecord(ip_restricted=True, ip_allowlist=("2001:db8::/32",)), ["2001:db8::1"], True),
        (ScopeRecord(ip_restricted=True, ip_allowlist=("not an address",)), ["203.0.113.7"], False),
        (ScopeRecord(ip_restricted=False, ip_allowlist=()), ["203.0.113.7"], True),  # any address may use it
        (ScopeRecord(ip_restricted=False), [], True),
        (ScopeRecord(ip_restricted=True), ["203.0.113.7"], None),  # restricted, list not reported (Binance)
        (ScopeRecord(ip_restricted=True, ip_allowlist=("203.0.113.7",)), ["", ""], None),  # nothing to compare
        (ScopeRecord(), ["203.0.113.7"], None),
    ],
)
def test_egress_allowlisted(record, ours, expected):
    assert egress_allowlisted(record, ours) is expected
