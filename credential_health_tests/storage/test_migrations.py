"""Migrations from empty and from the previous revision, on SQLite and PostgreSQL; timestamps stay tz-aware."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from credential_health.cli import main
from credential_health.storage import schema
from credential_health.storage.database import current_revision, head_revision, make_engine, upgrade

TABLES = {
    "credential_health_checks",
    "credential_status",
    "tenant_webhooks",
    "webhook_events",
    "webhook_delivery_log",
    "credential_failure_episodes",
}


def test_upgrade_from_empty_is_idempotent(empty_database_url):
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision() == "0005"
    assert upgrade(engine) == "0005"
    assert set(sa.inspect(engine).get_table_names()) >= TABLES


def test_upgrade_from_the_previous_revision_keeps_rows(empty_database_url):
    engine = make_engine(empty_database_url)
    assert upgrade(engine, "0001") == "0001"
    assert "webhook_events" not in sa.inspect(engine).get_table_names()
    now = datetime.now(timezone.utc)
    row = dict(
        tenant_id="acme",
        exchange="binance",
        credential_type="trading",
        window_start=now.isoformat(),
        source="scheduled",
        checked_at=now.isoformat(),
        status="valid",
        error_code="ok",
        duration_ms=5,
        attempts=1,
    )
    old_checks = sa.table("credential_health_checks", *(sa.column(name) for name in row))
    with engine.begin() as connection:
        connection.execute(old_checks.insert(), row)
    assert upgrade(engine, "0002") == "0002"
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.credential_health_checks)).scalar() == 1


def test_schema_matches_the_migrations(database_url):
    inspector = sa.inspect(make_engine(database_url))
    for table in schema.metadata.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys()), table.name
        indexes = {(i["name"], bool(i["unique"])) for i in inspector.get_indexes(table.name)}
        assert {(i.name, i.unique) for i in table.indexes} <= indexes, table.name


def test_timestamps_come_back_timezone_aware_in_utc(database_url):
    engine = make_engine(database_url)
    berlin = timezone(timedelta(hours=1))
    when = datetime(2026, 11, 22, 7, 30, tzinfo=berlin)
    row = dict(
        tenant_id="acme",
        exchange="kraken",
        credential_type="trading",
        window_start=when,
        source="manual",
        window_end=when + timedelta(hours=6),
        checked_at=when,
        status="invalid",
        error_code="auth_rejected",
        duration_ms=3,
        attempts=1,
    )
    with engine.begin() as connection:
        connection.execute(schema.credential_health_checks.insert(), row)
        stored = connection.execute(sa.select(schema.credential_health_checks.c.checked_at)).scalar_one()
    assert stored == when and stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(schema.credential_health_checks.insert(), {**row, "checked_at": datetime(2026, 1, 1)})


def test_check_constraints_refuse_unknown_status(database_url):
    now = datetime.now(timezone.utc)
    row = dict(
        tenant_id="a",
        exchange="b",
        credential_type="c",
        window_start=now,
        window_end=now,
        source="scheduled",
        checked_at=now,
        status="maybe",
        error_code="x",
        duration_ms=1,
        attempts=1,
    )
    with pytest.raises(sa.exc.IntegrityError), make_engine(database_url).begin() as connection:
        connection.execute(schema.credential_health_checks.insert(), row)


def test_cli_db_upgrade_and_current(empty_database_url, capsys, monkeypatch):
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", empty_database_url)
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == "empty"
    assert main(["db", "upgrade", "--revision", "0001"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert "revision 0005" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == "0005"


def test_cli_names_a_bad_setting(monkeypatch, capsys):
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "7")
    assert main(["db", "current"]) == 3  # configuration error
    assert "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS must divide 24" in capsys.readouterr().err
