"""Bad credentials never fail a window; infrastructure failures fail the run and write nothing."""

from __future__ import annotations

import pytest

from credential_health.partitions import window_for_key
from credential_health_tests.fixtures.pipeline import scoped_token

WINDOW = "2026-05-01-00:00"


def test_malformed_unknown_exchange_and_hanging_key_do_not_fail_the_window(pipeline):
    pipeline.add("ok", "binance")
    pipeline.put("broken", "kraken", "trading", {"apiKey": "kraken-key-without-secret"})
    pipeline.put("odd", "notanexchange", "trading", {"apiKey": "some-key", "secret": "some-secret"})
    pipeline.add("slow", "binance", behaviour="timeout")

    result = pipeline.materialize(WINDOW)
    assert result.success

    rows = {r["tenant_id"]: r for r in pipeline.checks()}
    assert (rows["ok"]["status"], rows["ok"]["error_code"]) == ("valid", "ok")
    assert (rows["broken"]["status"], rows["broken"]["error_code"]) == ("invalid", "malformed_secret")
    assert "secret" in rows["broken"]["error_message"]
    assert (rows["odd"]["status"], rows["odd"]["error_code"]) == ("invalid", "unsupported_exchange")
    assert "notanexchange" in rows["odd"]["error_message"]
    assert (rows["slow"]["status"], rows["slow"]["error_code"], rows["slow"]["attempts"]) == ("unknown", "timeout", 2)
    assert rows["slow"]["error_message"]
    assert "kraken-key-without-secret" not in repr(rows)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert all(evaluations.values()) and len(evaluations) == 4


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)  # the backend is not the point here
def test_vault_down_fails_the_run_and_writes_nothing(pipeline, private_openbao, monkeypatch):
    pipeline.bao = private_openbao
    monkeypatch.setenv("VAULT_ADDR", private_openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", scoped_token(private_openbao, pipeline.tenants_path))
    pipeline.add("acme", "binance")
    assert pipeline.materialize(WINDOW).success
    before = pipeline.checks()
    assert len(before) == 1

    private_openbao.root().sys.seal()
    failed = pipeline.materialize(WINDOW, raise_on_error=False)
    assert not failed.success
    error = failed.failure_data_for_node("credential_inventory").error
    assert error.cause.cls_name == "VaultDown" and "sealed" in error.cause.message
    assert pipeline.checks() == before  # the earlier rows of that window are untouched
    assert pipeline.status()[("acme", "binance", "trading")]["windows_seen"] == 1
    assert {e.asset_key.to_user_string() for e in failed.get_asset_materialization_events()} == set()
    assert window_for_key(WINDOW).start == before[0]["window_start"]
