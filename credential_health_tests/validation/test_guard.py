"""The exchange-wide guard: its arithmetic, its read of the previous window, and a whole window through Dagster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterEventType

from credential_health.models import CheckResult, CredentialRef, Source, Status
from credential_health.storage.database import make_engine
from credential_health.storage.results import check_row
from credential_health.storage.schema import credential_health_checks
from credential_health.validation.guard import CHECK_NAME, hold_exchange_wide_failures, previously_valid

NOW = datetime(2026, 2, 1, 6, tzinfo=timezone.utc)


def result(tenant: str, exchange: str, status: Status, code: str) -> CheckResult:
    return CheckResult(
        CredentialRef(tenant, exchange, "trading"), status, code, None if code == "ok" else code, NOW, 5, 1
    )


def window(exchange: str, valid: int, rejected: int, code: str = "auth_rejected") -> list[CheckResult]:
    return [result(f"{exchange}-v{i}", exchange, Status.VALID, "ok") for i in range(valid)] + [
        result(f"{exchange}-r{i}", exchange, Status.INVALID, code) for i in range(rejected)
    ]


def keys(results: list[CheckResult]) -> set[tuple[str, str, str]]:
    return {r.ref.key for r in results}


def test_thirty_of_forty_trips_and_holds_every_rejection_of_that_exchange_only():
    binance, kraken = window("binance", 10, 30), window("kraken", 3, 5)
    already_failing = result("old", "binance", Status.INVALID, "auth_rejected")  # invalid before, too
    malformed = result("bad", "binance", Status.INVALID, "malformed_secret")  # our finding, not the exchange's
    guarded, trips = hold_exchange_wide_failures(
        binance + kraken + [already_failing, malformed], keys(binance) | keys(kraken), 0.2, 10
    )
    [trip] = trips
    assert (trip.exchange, trip.previously_valid, trip.turned_invalid, trip.held) == ("binance", 40, 30, 31)
    assert "binance: 30 of 40" in trip.describe() and "(75%)" in trip.describe()
    by_tenant = {r.ref.tenant_id: r for r in guarded}
    assert {(r.status, r.error_code) for r in guarded if r.ref.tenant_id.startswith("binance-r")} == {
        (Status.UNKNOWN, "exchange_wide_failure")
    }
    assert by_tenant["old"].error_code == "exchange_wide_failure"
    assert "auth_rejected" in by_tenant["old"].error_message
    assert (by_tenant["bad"].status, by_tenant["bad"].error_code) == (Status.INVALID, "malformed_secret")
    assert by_tenant["kraken-r0"].status is Status.INVALID  # kraken has only 8 previously valid: below the minimum
    assert len(guarded) == len(binance) + len(kraken) + 2


@pytest.mark.parametrize(
    ("valid", "rejected", "minimum", "trips"),
    [
        (8, 2, 10, False),  # exactly 20% is not more than 20%
        (7, 3, 10, True),  # 30% of 10
        (6, 3, 10, False),  # only 9 previously valid: below the minimum
        (6, 3, 9, True),
    ],
)
def test_share_must_be_exceeded_with_enough_credentials(valid, rejected, minimum, trips):
    results = window("binance", valid, rejected)
    guarded, found = hold_exchange_wide_failures(results, keys(results), 0.2, minimum)
    assert bool(found) is trips
    assert (guarded == results) is not trips


def test_keys_not_valid_before_are_not_the_base():
    results = window("binance", 2, 30)
    previously = {r.ref.key for r in results[:12]}  # 2 valid + 10 rejected were valid before: 10 of 12 flipped
    _, [trip] = hold_exchange_wide_failures(results, previously, 0.2, 10)
    assert (trip.previously_valid, trip.turned_invalid, trip.held) == (12, 10, 30)


def test_previously_valid_reads_the_last_definite_scheduled_verdict(database_url):
    engine = make_engine(database_url)
    earlier, previous = NOW - timedelta(hours=12), NOW - timedelta(hours=6)
    rows = [
        check_row(
            result("a", "binance", Status.VALID, "ok"), earlier, earlier + timedelta(hours=6), Source.SCHEDULED, "r1"
        ),
        check_row(
            result("a", "binance", Status.UNKNOWN, "exchange_wide_failure"),
            previous,
            previous + timedelta(hours=6),
            Source.SCHEDULED,
            "r2",
        ),
        check_row(
            result("b", "binance", Status.VALID, "ok"), previous, previous + timedelta(hours=6), Source.SCHEDULED, "r2"
        ),
        check_row(
            result("c", "binance", Status.VALID, "ok"), earlier, earlier + timedelta(hours=6), Source.SCHEDULED, "r1"
        ),
        check_row(
            result("c", "binance", Status.INVALID, "auth_rejected"),
            previous,
            previous + timedelta(hours=6),
            Source.SCHEDULED,
            "r2",
        ),
        check_row(
            result("d", "kraken", Status.VALID, "ok"), previous, previous + timedelta(hours=6), Source.MANUAL, None
        ),
        check_row(result("e", "kraken", Status.VALID, "ok"), NOW, NOW + timedelta(hours=6), Source.SCHEDULED, "r3"),
        check_row(
            result("f", "kraken", Status.VALID, "ok"),
            NOW - timedelta(days=8),
            NOW - timedelta(days=8) + timedelta(hours=6),
            Source.SCHEDULED,
            "r0",
        ),
    ]
    with engine.begin() as connection:
        connection.execute(credential_health_checks.insert(), rows)
    with engine.connect() as connection:
        # a: held as unknown last window, valid before; c: valid, then rejected; f: too old to count
        assert previously_valid(connection, NOW) == {("a", "binance", "trading"), ("b", "binance", "trading")}
        assert previously_valid(connection, previous) == {("a", "binance", "trading"), ("c", "binance", "trading")}
        assert previously_valid(connection, earlier) == set()
    engine.dispose()


WINDOWS = ["2026-02-01-00:00", "2026-02-01-06:00", "2026-02-01-12:00", "2026-02-01-18:00"]


def test_thirty_of_forty_binance_keys_rejected_in_one_window(pipeline, monkeypatch):
    """The issue's scenario: no streak grows, the blocking check fails naming binance and 75%, the log says why."""
    tenants = [f"t{i:02d}" for i in range(40)]
    for tenant in tenants:
        pipeline.add(tenant, "binance")
    pipeline.add("steady", "kraken", behaviour="revoked")
    assert pipeline.materialize(WINDOWS[0]).success
    for tenant in tenants[:30]:
        pipeline.rescript(tenant, "binance", "revoked")  # -2015 for 30 of the 40

    run = pipeline.materialize(WINDOWS[1], raise_on_error=False)
    assert not run.success  # the blocking check stops the rollup of this window
    [evaluation] = [
        e.asset_check_evaluation_data
        for e in run.all_events
        if e.event_type is DagsterEventType.ASSET_CHECK_EVALUATION
        and e.asset_check_evaluation_data.check_name == CHECK_NAME
    ]
    assert not evaluation.passed
    assert "binance" in evaluation.description and "75%" in evaluation.description
    assert evaluation.metadata["tripped_exchanges"].value["binance"]["share"] == "75%"
    logged = [entry.user_message for entry in pipeline.instance.all_logs(run.run_id)]
    assert any("exchange-wide failure held" in m and "binance: 30 of 40" in m and "75%" in m for m in logged)

    second = [row for row in pipeline.checks() if row["window_start"].strftime("%Y-%m-%d-%H:%M") == WINDOWS[1]]
    held = [row for row in second if row["exchange"] == "binance" and row["status"] != "valid"]
    assert len(held) == 30 and {(r["status"], r["error_code"]) for r in held} == {("unknown", "exchange_wide_failure")}
    kraken = [row for row in second if row["exchange"] == "kraken"]
    assert [(r["status"], r["error_code"]) for r in kraken] == [("invalid", "auth_rejected")]

    # the failure lasts into the next window: still held (the held window does not become the baseline)
    pipeline.rescript("t00", "binance", "valid")
    assert not pipeline.materialize(WINDOWS[2], raise_on_error=False).success
    third = [row for row in pipeline.checks() if row["window_start"].strftime("%Y-%m-%d-%H:%M") == WINDOWS[2]]
    assert sum(row["error_code"] == "exchange_wide_failure" for row in third) == 29

    # an operator who has confirmed the rejections are real turns the guard off; the next rollup folds every
    # window in: the held windows grew no streak, only the confirmed window's rejections count
    monkeypatch.setenv("CREDENTIAL_HEALTH_EXCHANGE_WIDE_SHARE", "1")
    assert pipeline.materialize(WINDOWS[3]).success
    streaks = {key: row["consecutive_failures"] for key, row in pipeline.status().items()}
    assert {streaks[(t, "binance", "trading")] for t in tenants[1:30]} == {1}
    assert {streaks[(t, "binance", "trading")] for t in tenants[30:] + tenants[:1]} == {0}
