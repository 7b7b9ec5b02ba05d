"""Asset checks: the secret scan finds leaks in any shape, blocks the rollup, and coverage sees gaps."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from dagster import build_asset_check_context

from credential_health.checks import credential_label, results_cover_inventory, secret_findings
from credential_health.models import ExchangeSecret
from credential_health.partitions import window_for_key
from credential_health.resources import ResultsDatabase, VaultCredentialSource
from credential_health.secret_digests import SecretDigests
from credential_health.storage import results

SECRET = ExchangeSecret(
    api_key="AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789",
    secret=base64.b64encode(b"kraken-secret-bytes-" * 3).decode(),
)
WINDOW = "2026-07-01-00:00"
SQLITE_ONLY = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


def _digests() -> SecretDigests:
    digests = SecretDigests()
    digests.add(SECRET)
    return digests


@pytest.mark.parametrize(
    "text",
    [
        f'AuthenticationError: binance {{"code":-2015}} key={SECRET.api_key}',
        f"secret={SECRET.secret}&nonce=1",
        f"POST /0/private/BalanceEx API-Sign:{quote(SECRET.secret, safe='')}",
        f"'{SECRET.secret}'",
    ],
)
def test_secret_values_are_found_in_any_wrapping(text):
    assert secret_findings([("error_message", text)], _digests())["error_message: secret value"] == 1


def test_key_shaped_strings_are_flagged_even_without_digests():
    found = secret_findings([("error_message", "signature " + "ab12" * 16)], SecretDigests())
    assert found == {"error_message: key-shaped string": 1}


def test_ordinary_messages_pass():
    texts = [
        (
            "error_message",
            'AuthenticationError: binance {"code":-2015,"msg":"Invalid API-key, IP, or '
            'permissions for action."} GET https://api.binance.com/api/v3/account?<redacted>',
        ),
        ("error_message", "RequestTimeout: kraken POST https://api.kraken.com/0/private/BalanceEx timed out"),
        ("tenant_id", "acme-trading-desk-7"),
        ("error_code", "auth_rejected"),
    ]
    assert not secret_findings(texts, _digests())


@SQLITE_ONLY
def test_a_leak_in_the_window_fails_the_blocking_check_and_stops_the_rollup(pipeline):
    credential = pipeline.add("acme", "binance")
    leak = {
        "tenant_id": "acme",
        "exchange": "binance",
        "credential_type": "trading",
        "window_start": window_for_key(WINDOW).start,
        "source": "manual",
        "checked_at": datetime(2026, 7, 1, 1, tzinfo=timezone.utc),
        "status": "invalid",
        "error_code": "auth_rejected",
        "error_message": f"echoed apiKey {credential.api_key}",
        "duration_ms": 1,
        "attempts": 1,
        "run_id": None,
    }
    with pipeline.engine.begin() as connection:
        results.insert_rows(connection, [leak])

    result = pipeline.materialize(WINDOW, raise_on_error=False)
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_secret_material"]
    assert not check.passed and check.metadata["suspicious_values"].value == 1
    assert credential.api_key not in repr(check.metadata)
    assert not result.success  # blocking: the step fails, so neither the rollup nor a webhook follows
    assert "credential_failure_rollup" not in {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
    }
    assert pipeline.status() == {}


@SQLITE_ONLY
def test_coverage_fails_for_a_credential_without_a_result(pipeline):
    pipeline.add("acme", "binance")
    assert pipeline.materialize(WINDOW).success
    pipeline.add("newcomer", "kraken")  # inventoried after the window was validated
    refs = VaultCredentialSource().walk()
    # Invoked on its own (no run partition) the check looks at the newest window with results.
    check = results_cover_inventory(
        build_asset_check_context(), credential_inventory=refs, results_db=ResultsDatabase()
    )
    assert not check.passed
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert metadata["missing"] == 1 and metadata["missing_sample"] == ["newcomer/kraken/trading"]
    assert metadata["window_start"] == window_for_key(WINDOW).start.isoformat()


def test_flagged_credentials_are_named_without_the_flagged_value():
    assert credential_label(("acme", "binance", "trading"), {"error_message"}) == "acme/binance/trading"
    assert (
        credential_label(("acme", "binance", SECRET.api_key), {"credential_type"}) == "acme/binance/<credential_type>"
    )
    assert credential_label(("t" * 300, "kraken", "trading"), set()) == "t" * 40 + "…/kraken/trading"


def _folder_named_after_its_key(pipeline) -> ExchangeSecret:
    """A tenant who named the credential's folder after its own API key (Vault takes any segment)."""
    credential = ExchangeSecret(api_key="acmeKey" + "Q" * 20, secret="acme-secret-" + "z" * 20)
    pipeline.simulator.set_key("binance", credential.api_key, credential.secret, "valid")
    pipeline.put("acme", "binance", credential.api_key, {"apiKey": credential.api_key, "secret": credential.secret})
    return credential


@SQLITE_ONLY
def test_the_blocking_check_names_the_credential_it_flags_never_the_value(pipeline):
    pipeline.add("globex", "kraken")
    credential = _folder_named_after_its_key(pipeline)
    result = pipeline.materialize(WINDOW, raise_on_error=False)
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_secret_material"]
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert not check.passed and metadata["flagged_credentials"] == 1
    assert metadata["flagged_sample"] == ["acme/binance/<credential_type>"]
    assert metadata["findings"] == {"credential_type: secret value": 1}
    assert credential.api_key not in repr(check.metadata)
    assert pipeline.status() == {}  # blocked: no rollup


@SQLITE_ONLY
def test_the_manual_check_runs_the_same_scan_before_storing(pipeline):
    credential = _folder_named_after_its_key(pipeline)
    from credential_health.definitions import defs

    config = {
        "ops": {
            "check_credential": {
                "config": {"tenant_id": "acme", "exchange": "binance", "credential_type": credential.api_key}
            }
        }
    }
    result = defs.resolve_job_def("check_credential_job").execute_in_process(
        run_config=config, instance=pipeline.instance, raise_on_error=False
    )
    assert not result.success
    description = result.failure_data_for_node("check_credential").user_failure_data.description
    assert description.startswith("manual check of acme/binance/<credential_type> not stored")
    assert "credential_type: secret value" in description
    assert credential.api_key not in description and credential.secret not in description
    assert pipeline.checks() == [] and pipeline.status() == {}
