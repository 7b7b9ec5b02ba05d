"""The project's migrations keep their revision in their own table, so they share a database with Dagster's."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, asset, materialize

from credential_health.storage.database import (
    LEGACY_VERSION_TABLE,
    VERSION_TABLE,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from credential_health.storage.schema import credential_health_checks


def versions(engine: sa.Engine, table: str) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


def make_legacy(engine: sa.Engine, revisions: list[str]) -> None:
    """The state an install from before the own version table is in: its revision in `alembic_version`."""
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        connection.execute(
            sa.text(
                f"CREATE TABLE {LEGACY_VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                f"CONSTRAINT {LEGACY_VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
            )
        )
        for revision in revisions:
            connection.execute(sa.text(f"INSERT INTO {LEGACY_VERSION_TABLE} VALUES ('{revision}')"))


def test_a_fresh_install_never_touches_alembic_version(empty_database_url):
    engine = make_engine(empty_database_url)
    assert upgrade(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert VERSION_TABLE in tables and LEGACY_VERSION_TABLE not in tables
    assert versions(engine, VERSION_TABLE) == [head_revision()]


def test_an_existing_install_is_carried_over_and_upgraded(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0001")
    make_legacy(engine, ["0001"])
    assert current_revision(engine) is None  # the own table does not exist yet
    assert upgrade(engine) == head_revision()  # from 0001: the tables of 0001 are kept, later ones added
    assert LEGACY_VERSION_TABLE not in sa.inspect(engine).get_table_names()  # it held only ours: gone
    assert upgrade(engine) == head_revision()


def test_another_tools_revision_in_alembic_version_stays_where_it_is(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    make_legacy(engine, [head_revision(), "ddb6a4ac5bbe"])  # ours next to someone else's (a Dagster revision id)
    assert upgrade(engine) == head_revision()
    assert versions(engine, LEGACY_VERSION_TABLE) == ["ddb6a4ac5bbe"]
    with engine.begin() as connection:  # a database holding only someone else's revision is not adopted
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
    assert current_revision(engine) is None
    with pytest.raises(sa.exc.SQLAlchemyError):  # tables exist, revision unknown: Alembic tries to create them
        upgrade(engine)
    assert versions(engine, LEGACY_VERSION_TABLE) == ["ddb6a4ac5bbe"]


@asset
def probe() -> int:
    return 1


@pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("dagster_first", [True, False])
def test_one_postgres_database_for_dagster_and_the_result_tables(empty_database_url, tmp_path, dagster_first):
    url = make_engine(empty_database_url).url
    config = {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": url.username or "postgres",
                    "password": url.password or "",
                    "hostname": url.host,
                    "port": url.port or 5432,
                    "db_name": url.database,
                }
            }
        }
    }
    engine = make_engine(empty_database_url)
    if not dagster_first:
        upgrade(engine)
    with DagsterInstance.from_config(str(_home(tmp_path, config))) as instance:
        assert materialize([probe], instance=instance).success  # Dagster's storage is up and writes
        dagster_revisions = versions(engine, LEGACY_VERSION_TABLE)
        assert dagster_revisions and head_revision() not in dagster_revisions
        assert upgrade(engine) == head_revision()
        now = datetime.now(timezone.utc)
        with engine.begin() as connection:  # the result tables work in the shared database
            connection.execute(
                credential_health_checks.insert(),
                {
                    "tenant_id": "acme",
                    "exchange": "binance",
                    "credential_type": "trading",
                    "window_start": now,
                    "source": "scheduled",
                    "checked_at": now,
                    "status": "valid",
                    "error_code": "ok",
                    "duration_ms": 5,
                    "attempts": 1,
                },
            )
        assert materialize([probe], instance=instance).success  # and still does, next to our tables
        assert versions(engine, LEGACY_VERSION_TABLE) == dagster_revisions
    with DagsterInstance.from_config(str(_home(tmp_path, config))) as instance:  # a restarted daemon or webserver
        assert instance.get_runs_count() == 2
    assert current_revision(engine) == head_revision()


def _home(tmp_path, config: dict):
    import yaml

    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home
