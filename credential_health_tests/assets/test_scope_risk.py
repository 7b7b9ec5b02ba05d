"""Scope risk in Dagster: the validation results count keys by risk level, and an asset check WARNs naming the
high-risk keys (tenant, exchange, type, reason; never a secret)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from dagster import AssetCheckSeverity

from credential_health.assets.metadata import scope_risk_metadata
from credential_health.models import Status
from credential_health.storage.database import make_engine, upgrade
from credential_health_tests.notify.scope_support import SAFE, SECOND, START, check, window_start, write_window

WINDOW = "2026-07-01-00:00"


def test_the_results_count_the_windows_keys_by_risk_level(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    keys = {name: ("acme", "binance", name) for name in ("safe", "withdraw", "open", "allowlist", "expiring", "gone")}
    write_window(
        engine,
        0,
        [
            check(0, SAFE, key=keys["safe"]),
            check(0, replace(SAFE, can_withdraw=True), key=keys["withdraw"]),
            check(0, replace(SAFE, ip_restricted=False, ip_allowlist=None), key=keys["open"]),
            check(0, replace(SAFE, ip_allowlist=(SECOND,)), key=keys["allowlist"]),
            check(0, replace(SAFE, expires_at=START + timedelta(days=5)), key=keys["expiring"]),
            check(0, None, Status.INVALID, "key_expired", key=keys["gone"]),
        ],
    )
    found = scope_risk_metadata(engine, window_start(0))
    assert found["scope_risk"].value == {"ok": 1, "warning": 2, "medium": 1, "high": 1}
    assert (found["high_risk_keys"], found["expired_keys"], found["egress_not_allowlisted_keys"]) == (1, 1, 0)
    assert scope_risk_metadata(engine, window_start(1))["scope_risk"].value == {
        "ok": 0,
        "warning": 0,
        "medium": 0,
        "high": 0,
    }
    engine.dispose()


def test_the_asset_check_warns_with_a_table_of_high_risk_keys(pipeline):
    secret = pipeline.add("acme", "binance")
    result = pipeline.materialize(WINDOW)
    [clean] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_high_risk_scopes"]
    assert clean.passed  # no scope reported (or none risky) yet
    assert "scope_risk" in result.asset_materializations_for_node("credential_validation_results")[0].metadata

    write_window(
        pipeline.engine,
        0,
        [
            check(0, replace(SAFE, can_withdraw=True), key=("globex", "kraken", "funding")),
            check(0, replace(SAFE, ip_restricted=False), key=("initech", "binance", "x")),
        ],
    )
    result = pipeline.materialize(WINDOW)
    [warned] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_high_risk_scopes"]
    assert not warned.passed and warned.severity == AssetCheckSeverity.WARN
    metadata = {k: v.value for k, v in warned.metadata.items()}
    assert metadata["high_risk_keys"] == 1
    rows = [dict(r.data) for r in metadata["keys"].records]
    assert [(r["tenant"], r["exchange"], r["type"], r["reason"]) for r in rows] == [
        ("globex", "kraken", "funding", "withdrawals enabled")
    ]
    text = repr(warned.metadata)
    assert secret.api_key not in text and secret.secret not in text
