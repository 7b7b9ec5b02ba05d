"""One credential's odd data cannot sink a window, and deleted secrets leave it (real OpenBao, the simulator
through ccxt, PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from credential_health.partitions import window_for_key

WINDOWS = ["2026-08-01-00:00", "2026-08-01-06:00"]
LONG_TENANT = "tenant-" + "x" * 293  # 300 characters: Vault takes it, a VARCHAR(255) does not
LONG_TYPE = "trading-" + "y" * 292
LONG_EXCHANGE = "exchange" + "Q7" * 26  # 60 characters, no ccxt id, shaped like a key to the secret scan


def _column_length(engine, column: str) -> int | None:
    [found] = [c for c in sa.inspect(engine).get_columns("credential_health_checks") if c["name"] == column]
    return getattr(found["type"], "length", None)


def _evaluations(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)
def test_long_names_and_an_unknown_long_exchange_folder_do_not_sink_the_window(pipeline):
    pipeline.add("acme", "binance")
    pipeline.add("globex", "kraken", behaviour="revoked")
    pipeline.add(LONG_TENANT, "binance")
    pipeline.add("initech", "binance", credential_type=LONG_TYPE)
    pipeline.put("umbrella", LONG_EXCHANGE, "trading", {"apiKey": "some-key", "secret": "some-secret"})

    result = pipeline.materialize(WINDOWS[0], raise_on_error=False)
    assert result.success
    assert _evaluations(result)["no_secret_material"] is True  # the folder's name is not mistaken for a key

    rows = {(r["tenant_id"], r["exchange"], r["credential_type"]): r for r in pipeline.checks()}
    assert (rows[("acme", "binance", "trading")]["status"], rows[("globex", "kraken", "trading")]["status"]) == (
        "valid",
        "invalid",
    )
    odd = rows[("umbrella", LONG_EXCHANGE, "trading")]
    assert (odd["status"], odd["error_code"]) == ("invalid", "unsupported_exchange")
    assert LONG_EXCHANGE not in odd["error_message"]
    status = pipeline.status()
    for key in [
        ("acme", "binance", "trading"),
        ("globex", "kraken", "trading"),
        ("umbrella", LONG_EXCHANGE, "trading"),
    ]:
        assert status[key]["windows_seen"] == 1 and status[key]["present_in_inventory"]
    assert status[("globex", "kraken", "trading")]["consecutive_failures"] == 1

    long_keys = {(LONG_TENANT, "binance", "trading"), ("initech", "binance", LONG_TYPE)}
    [materialized] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "credential_validation_results"
    ]
    refused = materialized.materialization.metadata["refused_rows"].value
    if _column_length(pipeline.engine, "tenant_id") is None:  # names stored whole (unbounded text columns)
        assert long_keys <= rows.keys() and long_keys <= status.keys() and refused == 0
        assert _evaluations(result)["results_cover_inventory"] is True
    else:  # a narrower column refuses those two rows alone, and says so
        assert not long_keys & rows.keys() and refused == 2
        assert _evaluations(result)["results_cover_inventory"] is False
    assert len(rows) == 5 - refused


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_deleted_or_destroyed_secret_leaves_the_inventory_like_a_removed_one(pipeline):
    for tenant in ("kept", "soft", "destroyed"):
        pipeline.add(tenant, "binance", behaviour="revoked")
    assert pipeline.materialize(WINDOWS[0]).success
    kv = pipeline.bao.root().secrets.kv.v2
    kv.delete_latest_version_of_secret(pipeline.path("soft", "binance"), mount_point="secret")
    kv.destroy_secret_versions(pipeline.path("destroyed", "binance"), versions=[1], mount_point="secret")

    result = pipeline.materialize(WINDOWS[1])
    second = window_for_key(WINDOWS[1]).start
    assert {r["tenant_id"] for r in pipeline.checks() if r["window_start"] == second} == {"kept"}
    assert "secret_unavailable" not in {r["error_code"] for r in pipeline.checks()}
    status = {key[0]: row for key, row in pipeline.status().items()}
    assert status["kept"]["consecutive_failures"] == 2 and status["kept"]["present_in_inventory"]
    for gone in ("soft", "destroyed"):
        assert not status[gone]["present_in_inventory"] and status[gone]["removed_at"] is not None
        assert status[gone]["consecutive_failures"] == 0  # never alerted on
    inventory = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "credential_inventory"
    ]
    assert inventory[0].materialization.metadata["credentials"].value == 1
