"""0002 -> 0003 on a database with data, on SQLite and PostgreSQL: duplicates reduced to the newest row,
window ends filled in, alerted credentials keep an open episode, long names fit, one scheduled row per window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from credential_health.episodes import episode_id
from credential_health.storage import schema
from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.types import UTCDateTime

W0 = datetime(2026, 3, 1, 6, tzinfo=timezone.utc)
OLD_CHECK_COLUMNS = (
    "tenant_id",
    "exchange",
    "credential_type",
    "source",
    "status",
    "error_code",
    "duration_ms",
    "attempts",
    "run_id",
)
old_checks = sa.table(
    "credential_health_checks",
    *(sa.column(n) for n in OLD_CHECK_COLUMNS),
    sa.column("window_start", UTCDateTime()),
    sa.column("checked_at", UTCDateTime()),
)
old_status = sa.table(
    "credential_status",
    *(
        sa.column(n)
        for n in (
            "tenant_id",
            "exchange",
            "credential_type",
            "last_status",
            "last_error_code",
            "consecutive_failures",
            "windows_seen",
            "present_in_inventory",
        )
    ),
    *(sa.column(n, UTCDateTime()) for n in ("failing_since", "alerted_at", "updated_at")),
)


def check(
    tenant: str,
    window: datetime,
    checked_at: datetime,
    status: str = "invalid",
    source: str = "scheduled",
    run_id: str = "r",
) -> dict:
    return dict(
        tenant_id=tenant,
        exchange="binance",
        credential_type="trading",
        source=source,
        status=status,
        error_code="auth_rejected",
        duration_ms=1,
        attempts=1,
        run_id=run_id,
        window_start=window,
        checked_at=checked_at,
    )


def _without_id(row) -> dict:
    return {k: v for k, v in row.items() if k != "id"}


@pytest.fixture
def engine_at_0002(empty_database_url, monkeypatch):
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "6")
    engine = make_engine(empty_database_url)
    assert upgrade(engine, "0002") == "0002"
    yield engine
    engine.dispose()


def test_upgrade_with_data(engine_at_0002):
    engine = engine_at_0002
    later = W0 + timedelta(hours=6, minutes=5)
    with engine.begin() as connection:
        connection.execute(
            old_checks.insert(),
            [
                check("acme", W0, W0 + timedelta(hours=6, minutes=1), run_id="first"),
                check("acme", W0, later, "valid", run_id="rerun"),  # a rerun of the same window: the newest stays
                check("acme", W0, W0 + timedelta(hours=2), "valid", source="manual"),  # manual rows are all kept
                check("acme", W0 + timedelta(hours=6), W0 + timedelta(hours=12, minutes=1)),
                check("globex", W0, W0 + timedelta(hours=6, minutes=2)),
            ],
        )
        connection.execute(
            old_status.insert(),
            [
                dict(
                    tenant_id="globex",
                    exchange="binance",
                    credential_type="trading",
                    last_status="invalid",
                    last_error_code="auth_rejected",
                    consecutive_failures=3,
                    windows_seen=3,
                    present_in_inventory=True,
                    failing_since=W0,
                    alerted_at=later,
                    updated_at=later,
                ),
                dict(
                    tenant_id="acme",
                    exchange="binance",
                    credential_type="trading",
                    last_status="invalid",
                    last_error_code="auth_rejected",
                    consecutive_failures=1,
                    windows_seen=2,
                    present_in_inventory=True,
                    failing_since=W0 + timedelta(hours=6),
                    alerted_at=None,
                    updated_at=later,
                ),
            ],
        )
    assert upgrade(engine, "0003") == "0003"
    upgrade(engine)  # the checks table as the code knows it (0005 adds egress_address)

    checks = schema.credential_health_checks
    with engine.connect() as connection:
        rows = connection.execute(sa.select(checks).order_by(checks.c.id)).mappings().all()
        episodes = connection.execute(sa.select(schema.credential_failure_episodes)).mappings().all()
    scheduled = [(r["tenant_id"], r["window_start"], r["run_id"]) for r in rows if r["source"] == "scheduled"]
    assert scheduled == [("acme", W0, "rerun"), ("acme", W0 + timedelta(hours=6), "r"), ("globex", W0, "r")]
    assert [r["source"] for r in rows].count("manual") == 1
    assert all(r["window_end"] == r["window_start"] + timedelta(hours=6) and r["late"] is False for r in rows)
    [episode] = episodes
    key = ("globex", "binance", "trading")
    assert episode["episode_id"] == episode_id(key, W0)
    assert (episode["opened_at"], episode["closed_at"], episode["alerted"], episode["windows_failed"]) == (
        later,
        None,
        True,
        3,
    )

    # a second scheduled row for one credential and window
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(checks.insert(), {**_without_id(rows[0]), "run_id": "another"})
    with engine.begin() as connection:  # a second manual row is fine
        connection.execute(checks.insert(), {**_without_id(rows[1]), "run_id": "another"})


def test_names_of_any_length_fit_after_the_upgrade(engine_at_0002):
    engine = engine_at_0002
    upgrade(engine)
    tenant, exchange, kind = "t" * 300, "e" * 60, "c" * 200
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(
            schema.credential_health_checks.insert(),
            dict(
                tenant_id=tenant,
                exchange=exchange,
                credential_type=kind,
                window_start=now,
                window_end=now,
                source="scheduled",
                checked_at=now,
                status="invalid",
                error_code="x",
                duration_ms=1,
                attempts=1,
            ),
        )
        connection.execute(
            schema.credential_status.insert(),
            dict(
                tenant_id=tenant,
                exchange=exchange,
                credential_type=kind,
                consecutive_failures=0,
                windows_seen=1,
                present_in_inventory=True,
                updated_at=now,
            ),
        )
        connection.execute(
            schema.webhook_events.insert(),
            dict(
                event_id="msg_x",
                dedupe_key="d" * 64,
                tenant_id=tenant,
                exchange=exchange,
                credential_type=kind,
                event_type="credential.failed",
                payload="{}",
                state="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            ),
        )
        connection.execute(
            schema.webhook_delivery_log.insert(),
            dict(
                event_id="msg_x",
                tenant_id=tenant,
                event_type="credential.failed",
                attempt_no=1,
                attempted_at=now,
                duration_ms=1,
            ),
        )
        stored = connection.execute(sa.select(schema.credential_status.c.tenant_id)).scalar_one()
    assert stored == tenant


def test_downgrade_to_0002_and_back(engine_at_0002):
    engine = engine_at_0002
    upgrade(engine)
    from alembic import command

    from credential_health.storage.database import _alembic_config

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert "credential_failure_episodes" not in sa.inspect(engine).get_table_names()
    assert upgrade(engine, "0003") == "0003"
