"""Migration 0005 on SQLite and PostgreSQL: checks keep their rows and gain egress_address; the scope tables
come and go with it (unbounded names on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command

from credential_health.storage.database import _alembic_config, make_engine, upgrade
from credential_health.storage.schema import credential_health_checks, credential_scopes

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_checks_survive_and_the_scope_tables_come_and_go(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO credential_health_checks (tenant_id, exchange, credential_type, window_start, window_end, "
                "source, checked_at, status, error_code, duration_ms, attempts, late) VALUES ('acme', 'binance', "
                "'trading', :now, :now, 'scheduled', :now, 'valid', 'ok', 5, 1, false)"
            ),
            {"now": NOW},
        )
    assert upgrade(engine) == "0005"
    with engine.begin() as connection:
        [row] = connection.execute(sa.select(credential_health_checks)).mappings().all()
        assert (row["tenant_id"], row["egress_address"]) == ("acme", None)
        long_name = "t" * 600  # names are unbounded text on PostgreSQL too
        connection.execute(
            credential_scopes.insert().values(
                tenant_id=long_name,
                exchange="binance",
                credential_type="trading",
                risk_level="ok",
                observed_at=NOW,
                changed_at=NOW,
                change_id="c" * 64,
                updated_at=NOW,
            )
        )
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    tables = sa.inspect(engine).get_table_names()
    assert "credential_scopes" not in tables and "credential_scope_changes" not in tables
    assert "egress_address" not in {c["name"] for c in sa.inspect(engine).get_columns("credential_health_checks")}
    assert upgrade(engine) == "0005"
    engine.dispose()
