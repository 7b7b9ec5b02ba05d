"""Bad credentials never fail a window; infrastructure failures fail the run, write nothing, leak nothing."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize

from credential_health.assets import ASSETS
from credential_health.checks import CHECKS
from credential_health.partitions import window_for_key
from credential_health.resources import VaultCredentialSource, default_resources
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
    assert all(evaluations.values()) and len(evaluations) == 6  # incl. the guard, shrink, scope checks


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


class EchoingCredentialSource(VaultCredentialSource):
    """Reads the real secret from OpenBao, then fails as a careless backend would: quoting it."""

    def read(self, ref):
        secret = super().read(ref)
        raise RuntimeError(f"backend refused {secret.api_key} with {secret.secret} for {ref.path}")


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_failure_quoting_a_secret_leaves_it_nowhere_in_the_dagster_instance(pipeline, tmp_path):
    credential = pipeline.add("acme", "binance")
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        result = materialize(
            [*ASSETS, *CHECKS],
            partition_key=WINDOW,
            instance=instance,
            raise_on_error=False,
            resources={**default_resources(), "credentials": EchoingCredentialSource()},
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        error = failure.step_failure_data.error
        assert "validation step failed: RuntimeError raised in test_failures.py" in error.message
        assert "(read); its message is withheld" in error.message
        assert error.cause is None and error.context is None  # no chained original
        stored = list(instance.all_logs(result.run_id))
    files = [path for path in home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in files) and stored
    for value in credential.sensitive_values():
        assert value not in repr(stored)
        leaking = [str(path) for path in files if value.encode() in path.read_bytes()]
        assert leaking == []
    assert pipeline.checks() == []
