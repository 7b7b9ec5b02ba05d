"""One window end to end: real OpenBao, the simulator over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from dagster import AssetKey

from credential_health.partitions import window_for_key

WINDOW = "2026-03-01-06:00"
# (tenant, exchange, behaviour) -> (status, error_code)
SCRIPTED = {
    ("acme", "binance", "valid"): ("valid", "ok"),
    ("acme", "kraken", "revoked"): ("invalid", "auth_rejected"),
    ("globex", "binance", "permission_denied"): ("invalid", "permission_denied"),
    ("globex", "kraken", "suspended"): ("invalid", "account_suspended"),
    ("initech", "binance", "rate_limited"): ("unknown", "rate_limited"),
    ("initech", "kraken", "server_error"): ("unknown", "exchange_unavailable"),
    ("umbrella", "binance", "flaky"): ("valid", "ok"),
}


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_materialize_window_records_every_scripted_behaviour(pipeline):
    for tenant, exchange, behaviour in SCRIPTED:
        pipeline.add(tenant, exchange, behaviour=behaviour, fail_first=1)

    result = pipeline.materialize_assets(WINDOW)
    assert result.success

    rows = pipeline.checks()
    window = window_for_key(WINDOW)
    assert {r["window_start"] for r in rows} == {window.start}
    assert {r["source"] for r in rows} == {"scheduled"}
    got = {(r["tenant_id"], r["exchange"]): (r["status"], r["error_code"]) for r in rows}
    assert got == {(t, e): expected for (t, e, _), expected in SCRIPTED.items()}
    assert all(r["run_id"] == result.run_id for r in rows)

    inventory = _metadata(result, "credential_inventory")
    assert inventory["credentials"] == len(SCRIPTED) and inventory["tenants"] == 4
    assert inventory["exchanges"] == {"binance": 4, "kraken": 3}

    meta = _metadata(result, "credential_validation_results")
    assert (meta["total"], meta["valid"], meta["invalid"], meta["unknown"]) == (7, 2, 3, 2)
    assert meta["failure_rate"] == pytest.approx(3 / 7, abs=1e-4)
    assert 0 <= meta["p50_duration_ms"] <= meta["p95_duration_ms"]
    assert "globex" in meta["worst_tenants"]

    rollup = _metadata(result, "credential_failure_rollup")
    assert (rollup["credentials"], rollup["failing"], rollup["removed"]) == (7, 3, 0)
    assert _checks(result) == {"no_secret_material": True, "results_cover_inventory": True,
                               "rollup_consistent": True, "inventory_not_shrunk": True}

    status = pipeline.status()
    assert status[("acme", "kraken", "trading")]["consecutive_failures"] == 1
    assert status[("acme", "kraken", "trading")]["failing_since"] == window.start
    assert status[("acme", "binance", "trading")]["last_success_at"] is not None
    assert status[("initech", "binance", "trading")]["consecutive_failures"] == 0
    assert all(s["windows_seen"] == 1 and s["last_event_at"] == window.end for s in status.values())

    # nothing secret anywhere: stored rows, status rows, run metadata
    stored = repr(rows) + repr(status) + repr([e.event_specific_data for e in result.all_events])
    for credential in pipeline.secrets.values():
        for value in credential.sensitive_values():
            assert value not in stored
    token = pipeline.env["VAULT_TOKEN"]  # settings come from the environment, never from run config
    assert token not in stored and token not in repr(result.dagster_run.run_config)
