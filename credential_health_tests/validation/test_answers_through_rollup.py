"""A broken answer in the middle of a failing streak leaves the streak as it was, through the Dagster rollup."""

from __future__ import annotations

from credential_health.sandbox.transport import BAD_BODIES, BARE_STATUS
from credential_health_tests.fixtures.pipeline import FAST_SETTINGS

WINDOWS = ["2026-03-01-00:00", "2026-03-01-06:00", "2026-03-01-12:00"]
ATTEMPTS = int(FAST_SETTINGS["CREDENTIAL_HEALTH_CHECK_RETRIES"])
BROKEN = {**dict.fromkeys(BAD_BODIES, "bad_response"), **dict.fromkeys(BARE_STATUS, "transport_auth")}


def test_bad_answers_keep_a_running_streak(pipeline):
    tenants = {
        f"{behaviour}-{exchange}": (exchange, behaviour) for behaviour in BROKEN for exchange in ("binance", "kraken")
    }
    for tenant, (exchange, _) in tenants.items():
        pipeline.add(tenant, exchange, behaviour="revoked")
    for window in WINDOWS[:2]:
        assert pipeline.materialize(window).success
    assert {row["consecutive_failures"] for row in pipeline.status().values()} == {2}

    for tenant, (exchange, behaviour) in tenants.items():
        pipeline.rescript(tenant, exchange, behaviour)
    assert pipeline.materialize(WINDOWS[2]).success

    status = pipeline.status()
    third = {row["tenant_id"]: row for row in pipeline.checks() if row["window_start"].hour == 12}
    for tenant, (exchange, behaviour) in tenants.items():
        row = status[(tenant, exchange, "trading")]
        assert (row["last_status"], row["last_error_code"]) == ("unknown", BROKEN[behaviour]), tenant
        assert row["consecutive_failures"] == 2, tenant  # neither reset (a fake "valid") nor grown
        assert third[tenant]["attempts"] == ATTEMPTS  # retried in-check like other transient answers
