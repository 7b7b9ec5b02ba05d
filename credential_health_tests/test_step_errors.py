"""Step failures from real database, OS and driver errors: retried or final, and never more than redacted text."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster import Failure

from credential_health.models import ExchangeSecret
from credential_health.secret_digests import SecretDigests
from credential_health.step_errors import clean_text, database_error_kind, step_failure
from credential_health.storage.database import VERSION_TABLE, make_engine, upgrade
from credential_health_tests.fixtures.services import free_port

SECRET = ExchangeSecret(api_key="plain-api-key-17", secret="plain-secret-value-99")


def raised(fn) -> BaseException:
    with pytest.raises(Exception) as caught:
        fn()
    return caught.value


def run_sql(engine: sa.Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_unreachable_postgresql_is_retried_with_the_drivers_first_line_only():
    engine = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none")
    refused = raised(lambda: engine.connect())
    assert database_error_kind(refused) == "transient"
    failure = step_failure(refused)
    assert isinstance(failure, Failure) and failure.allow_retries
    assert failure.description.startswith("results database unavailable (retried): OperationalError: connection")
    assert "sqlalche.me" not in failure.description  # SQLAlchemy's appended lines are dropped


def test_statement_errors_on_postgresql_are_final(postgres_server_url):
    engine = sa.create_engine(postgres_server_url)
    try:
        errors = {
            "ProgrammingError": raised(lambda: run_sql(engine, "SELECT * FROM no_such_table_here")),
            "DataError": raised(lambda: run_sql(engine, "SELECT CAST('not a number' AS integer)")),
        }
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TEMP TABLE probe (id int PRIMARY KEY)"))
            connection.execute(sa.text("INSERT INTO probe VALUES (1)"))
            errors["IntegrityError"] = raised(lambda: connection.execute(sa.text("INSERT INTO probe VALUES (1)")))
        raw = engine.raw_connection()
        try:  # the driver's own exception, as a COPY raises it (not wrapped by SQLAlchemy)
            errors["driver DataError"] = raised(lambda: raw.cursor().execute("SELECT CAST('x' AS integer)"))
        finally:
            raw.close()
    finally:
        engine.dispose()
    for name, error in errors.items():
        assert database_error_kind(error) == "deterministic", name
        failure = step_failure(error)
        assert failure.allow_retries is False and "not retried" in failure.description, name
        assert "[SQL:" not in failure.description


def test_sqlite_operational_errors_are_retried_only_when_they_can_pass(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'results.db'}")
    missing_table = raised(lambda: run_sql(engine, "SELECT * FROM no_such_table"))
    assert database_error_kind(missing_table) == "deterministic"
    unopenable = sa.create_engine(f"sqlite:///{tmp_path / 'absent-folder' / 'results.db'}")
    assert database_error_kind(raised(lambda: unopenable.connect())) == "transient"
    engine.dispose()


def test_a_database_newer_than_the_code_is_final(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'results.db'}")
    upgrade(engine)
    run_sql(engine, f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    unknown_revision = raised(lambda: upgrade(engine))
    engine.dispose()
    assert database_error_kind(unknown_revision) == "deterministic"
    assert "Can't locate revision" in step_failure(unknown_revision).description


def test_clean_text_masks_secrets_read_in_the_run_and_key_shapes():
    digests = SecretDigests()
    digests.add(SECRET)
    text = clean_text(ConnectionError(f"peer said {SECRET.api_key} and {'ab' * 20}\nsecond line"), digests)
    assert text == "ConnectionError: peer said <redacted> and <redacted>"
    failure = step_failure(TimeoutError(f"no answer for {SECRET.secret}"), digests, what="manual check")
    assert failure.allow_retries and failure.description == (
        "manual check lost a connection (retried): TimeoutError: no answer for <redacted>"
    )
    assert database_error_kind(KeyError("x")) is None
