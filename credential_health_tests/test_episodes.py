"""Failure episodes and their outbox rows, written by the real rollup on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from credential_health import rollup
from credential_health.episodes import episode_id
from credential_health.notify.endpoints import add_endpoint
from credential_health.storage import results
from credential_health.storage.database import make_engine
from credential_health.storage.episodes import credential_episodes
from credential_health.storage.schema import credential_failure_episodes, webhook_events

H6 = timedelta(hours=6)
T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
ACME = ("acme", "binance", "trading")
HOUR = timedelta(hours=1)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def endpoint(engine, tenant: str, url: str) -> str:
    with engine.begin() as connection:
        return add_endpoint(
            connection,
            tenant,
            url,
            ["credential.failed", "credential.recovered"],
            allow_private=False,
            resolver=lambda host, port: ["93.184.216.34"],
        )


def write(
    engine,
    n: int,
    status: str,
    key=ACME,
    *,
    late: bool = False,
    rollup_now: datetime | None = None,
    inventory: set | None = None,
) -> rollup.RollupSummary:
    """Window n's scheduled check for `key` (replacing any earlier one), then its rollup."""
    start = T0 + n * H6
    row = dict(
        tenant_id=key[0],
        exchange=key[1],
        credential_type=key[2],
        window_start=start,
        window_end=start + H6,
        source="scheduled",
        checked_at=start + H6 + (5 * H6 if late else timedelta(minutes=1)),
        status=status,
        error_code="auth_rejected" if status == "invalid" else "ok",
        error_message=None,
        duration_ms=1,
        attempts=1,
        late=late,
    )
    with engine.begin() as connection:
        connection.execute(
            sa.delete(results.checks).where(
                results.checks.c.window_start == start,
                results.checks.c.source == "scheduled",
                results.checks.c.tenant_id == key[0],
            )
        )
        results.insert_rows(connection, [row])
        return rollup.apply_window(
            connection, start, rollup_now or datetime.now(timezone.utc), {key} if inventory is None else inventory
        )


def outbox(engine) -> list:
    query = sa.select(webhook_events).order_by(webhook_events.c.next_attempt_at, webhook_events.c.endpoint_id)
    with engine.connect() as connection:
        return list(connection.execute(query))


def episodes(engine, key=ACME) -> list[dict]:
    with engine.connect() as connection:
        return credential_episodes(connection, key)


def test_one_failed_per_endpoint_at_the_threshold_then_recovered(engine):
    first = endpoint(engine, "acme", "https://hooks.example.com/a")
    second = endpoint(engine, "acme", "https://hooks.example.com/b")
    summaries = [write(engine, n, "invalid") for n in range(5)]
    assert [s.episodes_opened for s in summaries] == [0, 0, 1, 0, 0]
    failed = outbox(engine)
    assert {(e.event_type, e.endpoint_id) for e in failed} == {
        ("credential.failed", first),
        ("credential.failed", second),
    }
    assert len({e.event_id for e in failed}) == 2 and all(len(e.dedupe_key) == 64 for e in failed)
    [episode] = episodes(engine)
    assert episode["episode_id"] == episode_id(ACME, T0) and episode["first_failing_window"] == T0
    assert (episode["windows_failed"], episode["alerted"], episode["closed_at"]) == (5, True, None)
    assert episode["opened_at"] == T0 + 3 * H6 + timedelta(minutes=1)  # the check that reached 3

    write(engine, 3, "invalid")  # a rerun of an old window: recomputed, nothing new to say
    assert len(outbox(engine)) == 2
    summary = write(engine, 5, "valid")
    assert (summary.episodes_closed, summary.recovered_events) == (1, 1)
    recovered = [e for e in outbox(engine) if e.event_type == "credential.recovered"]
    assert {e.endpoint_id for e in recovered} == {first, second}
    assert all(r.next_attempt_at >= f.next_attempt_at + HOUR for r in recovered for f in failed)  # hourly slot
    [episode] = episodes(engine)
    assert (episode["close_reason"], episode["closed_at"]) == ("recovered", T0 + 6 * H6 + timedelta(minutes=1))
    with engine.connect() as connection:
        [status] = rollup.status_rows(connection, [ACME])
    assert status["alerted_at"] is None


def test_recover_and_fail_again_is_two_episodes(engine):
    endpoint(engine, "acme", "https://hooks.example.com/a")
    for n, status in enumerate(["invalid"] * 3 + ["valid"] + ["invalid"] * 3):
        write(engine, n, status)
    assert [e.event_type for e in outbox(engine)] == ["credential.failed", "credential.recovered", "credential.failed"]
    slots = [e.next_attempt_at for e in outbox(engine)]
    assert slots[1] - slots[0] >= HOUR and slots[2] - slots[1] >= HOUR
    first, second = episodes(engine)
    assert (first["first_failing_window"], first["close_reason"]) == (T0, "recovered")
    assert (second["first_failing_window"], second["closed_at"]) == (T0 + 4 * H6, None)
    payload = outbox(engine)[2].payload
    assert second["episode_id"] in payload and '"consecutive_failures":3' in payload


def test_out_of_order_windows_give_the_same_episodes(engine):
    """Windows rolled up backwards record the same episodes as in order, and announce nothing twice."""
    globex = ("globex", "binance", "trading")
    plan = ["invalid", "invalid", "invalid", "valid", "invalid", "invalid", "invalid", "invalid"]
    both = {ACME, globex}
    for n in reversed(range(len(plan))):
        write(engine, n, plan[n], ACME, inventory=both)
    for n, status in enumerate(plan):
        write(engine, n, status, globex, inventory=both)

    def facts(key):
        return [
            (e["first_failing_window"], e["closed_at"], e["windows_failed"])
            for e in episodes(engine, key)
            if e["close_reason"] != "revised"
        ]

    assert facts(ACME) == facts(globex) == [(T0, T0 + 4 * H6 + timedelta(minutes=1), 3), (T0 + 4 * H6, None, 4)]
    kept = [e for e in episodes(engine) if e["close_reason"] != "revised"]
    assert [e["episode_id"] for e in kept] == [episode_id(ACME, T0), episode_id(ACME, T0 + 4 * H6)]
    # Backwards, the first episode was over before the rollup learnt of it: recorded, never announced; the
    # second was announced once, when windows 7, 6, 5 had reached the threshold, and kept its announcement
    # when window 4 moved its start back.
    assert [e["alerted"] for e in kept] == [False, True]
    assert [e.event_type for e in outbox(engine) if e.tenant_id == "acme"] == ["credential.failed"]
    assert [e.event_type for e in outbox(engine) if e.tenant_id == "globex"] == [
        "credential.failed",
        "credential.recovered",
        "credential.failed",
    ]


def test_late_checks_never_open_an_episode(engine):
    endpoint(engine, "acme", "https://hooks.example.com/a")
    summaries = [write(engine, n, "invalid", late=True) for n in range(4)]
    assert [s.late for s in summaries] == [1, 1, 1, 1] and outbox(engine) == [] and episodes(engine) == []
    with engine.connect() as connection:
        [status] = rollup.status_rows(connection, [ACME])
    assert (status["last_status"], status["consecutive_failures"], status["windows_seen"]) == ("invalid", 0, 4)


def test_removal_closes_without_an_event_and_return_reopens(engine):
    endpoint(engine, "acme", "https://hooks.example.com/a")
    for n in range(3):
        write(engine, n, "invalid")
    summary = write(engine, 3, "invalid", inventory=set())  # the credential left Vault
    assert summary.episodes_closed == 1
    [episode] = episodes(engine)
    assert episode["close_reason"] == "removed"
    write(engine, 4, "invalid")  # back, still failing: the same episode again, no second alert
    [episode] = episodes(engine)
    assert (episode["closed_at"], episode["alerted"]) == (None, True)
    assert [e.event_type for e in outbox(engine)] == ["credential.failed"]


def test_manual_valid_closes_the_episode(engine):
    for n in range(3):
        write(engine, n, "invalid")
    at = T0 + 3 * H6 + timedelta(hours=2)
    row = dict(
        tenant_id=ACME[0],
        exchange=ACME[1],
        credential_type=ACME[2],
        window_start=T0 + 3 * H6,
        window_end=T0 + 4 * H6,
        source="manual",
        checked_at=at,
        status="valid",
        error_code="ok",
        error_message=None,
        duration_ms=1,
        attempts=1,
        late=False,
    )
    event = rollup.Event(at, "manual", T0 + 3 * H6, at, "valid", "ok", None)
    with engine.begin() as connection:
        results.insert_rows(connection, [row])
        summary = rollup.apply_events(connection, {ACME: [event]}, datetime.now(timezone.utc))
    assert summary.recovered_events == 1
    [episode] = episodes(engine)
    assert (episode["closed_at"], episode["close_reason"]) == (at, "recovered")
    # without an endpoint both events are kept as undeliverable rows
    assert [(e.event_type, e.state) for e in outbox(engine)] == [
        ("credential.failed", "undeliverable"),
        ("credential.recovered", "undeliverable"),
    ]


def test_a_revised_window_closes_an_episode_history_no_longer_shows(engine):
    for n in range(3):
        write(engine, n, "invalid")
    write(engine, 1, "unknown")  # a rerun of window 1 now says unknown: the streak is 2, below the threshold
    [episode] = episodes(engine)
    assert (episode["close_reason"], episode["alerted"]) == ("revised", True)
    assert [e.event_type for e in outbox(engine)] == ["credential.failed"]
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(credential_failure_episodes)).scalar()
    assert count == 1
