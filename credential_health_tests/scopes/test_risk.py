"""The risk rules table: default levels, overrides from the setting, and nothing guessed from unreported fields."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from credential_health.scopes.record import ScopeRecord
from credential_health.scopes.risk import assess, parse_levels
from credential_health.settings import Settings, SettingsError

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
SAFE = ScopeRecord(
    can_trade=True, can_withdraw=False, can_transfer=False, ip_restricted=True, ip_allowlist=("203.0.113.7",)
)


def test_default_levels():
    assert assess(SAFE, NOW, ("203.0.113.7",)).level == "ok"
    assert assess(replace(SAFE, can_withdraw=True), NOW).level == "high"
    assert assess(replace(SAFE, ip_restricted=False, ip_allowlist=None), NOW).level == "medium"
    missing = assess(SAFE, NOW, ("203.0.113.7", "198.51.100.9"))
    assert (missing.level, missing.rules) == ("warning", ("egress_not_allowlisted",))
    assert "198.51.100.9" in missing.reason
    assert assess(replace(SAFE, expires_at=NOW + timedelta(days=13)), NOW).level == "warning"
    assert assess(replace(SAFE, expires_at=NOW + timedelta(days=15)), NOW).level == "ok"
    assert assess(replace(SAFE, expires_at=NOW - timedelta(days=1)), NOW).level == "ok"  # a failure: key_expired


def test_the_highest_rule_wins_and_every_reason_is_named():
    risk = assess(replace(SAFE, can_withdraw=True, ip_restricted=False, ip_allowlist=None), NOW)
    assert (risk.level, risk.rules) == ("high", ("withdrawal_enabled", "trading_without_ip_restriction"))
    assert risk.reason == "withdrawals enabled; trading enabled with no IP restriction"


def test_unreported_fields_match_no_rule():
    assert assess(ScopeRecord(), NOW, ("203.0.113.7",)).level == "ok"


def test_levels_are_overridden_by_the_setting():
    levels = '{"trading_without_ip_restriction": "high", "withdrawal_enabled": "off"}'
    env = {"VAULT_ADDR": "http://127.0.0.1:8200", "CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS": levels}
    overrides = Settings.from_env(env).scope_risk_levels
    risk = assess(replace(SAFE, can_withdraw=True, ip_restricted=False, ip_allowlist=None), NOW, (), overrides)
    assert (risk.level, risk.rules) == ("high", ("trading_without_ip_restriction",))


@pytest.mark.parametrize("raw", ['["high"]', '{"withdrawal": "high"}', '{"expiring": "critical"}', "{"])
def test_unworkable_overrides_are_refused(raw):
    with pytest.raises(SettingsError, match="CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS"):
        parse_levels("CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS", raw)
