"""Every difference between the two result databases (PostgreSQL and SQLite) the code relies on, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Column, Connection, Engine, Table, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

POSTGRESQL, SQLITE = "postgresql", "sqlite"
OnConflictInsert = postgresql.Insert | sqlite.Insert  # an INSERT that takes ON CONFLICT
_INSERTS: dict[str, Callable[[Table], OnConflictInsert]] = {POSTGRESQL: postgresql.insert, SQLITE: sqlite.insert}


def is_postgres(bind: Connection | Engine) -> bool:
    """Whether `bind` talks to PostgreSQL (else SQLite)."""
    return bind.dialect.name == POSTGRESQL


def is_sqlite_url(url: str | URL) -> bool:
    """Whether a database URL names SQLite."""
    return make_url(url).get_backend_name() == SQLITE


def _insert(connection: Connection, table: Table) -> OnConflictInsert:
    name = connection.dialect.name
    if name not in _INSERTS:
        raise NotImplementedError(f"upserts are written for PostgreSQL and SQLite, not {name}")
    return _INSERTS[name](table)


def insert_ignoring(connection: Connection, table: Table, keys: Sequence[str]) -> OnConflictInsert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING: a row whose key exists already is skipped."""
    return _insert(connection, table).on_conflict_do_nothing(index_elements=list(keys))


def insert_updating(
    connection: Connection, table: Table, keys: Sequence[str], updates: Sequence[str]
) -> OnConflictInsert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of `updates` only."""
    insert = _insert(connection, table)
    return insert.on_conflict_do_update(index_elements=list(keys), set_={n: insert.excluded[n] for n in updates})


def take_write_lock(connection: Connection, column: Column) -> None:
    """SQLite: begin the write transaction now, so the reads that follow and the writes are one atomic step.

    A write statement takes SQLite's write lock even when it matches no row; PostgreSQL locks rows instead.
    """
    if not is_postgres(connection):
        connection.execute(update(column.table).where(text("1 = 0")).values({column.name: column}))


def serialize(connection: Connection, name: str, column: Column, key: str | None = None) -> None:
    """One writer of `name` (and `key`) at a time until the transaction ends.

    PostgreSQL: a transaction-level advisory lock (other names and keys go on); SQLite: the write lock,
    taken with a no-op write to `column`.
    """
    if not is_postgres(connection):
        take_write_lock(connection, column)
    elif key is None:
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
    else:
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name), hashtext(:key))"), {"name": name, "key": key}
        )


def set_local(connection: Connection, setting: str, value: str) -> None:
    """PostgreSQL: `SET LOCAL setting = value` for this transaction (a tuning knob); nothing on SQLite."""
    if is_postgres(connection):
        connection.execute(text(f"SET LOCAL {setting} = '{value}'"))


def casts_case(connection: Connection) -> bool:
    """PostgreSQL types a CASE of NULLs as text, so it must be cast; SQLite must not (CAST AS DATETIME gives a
    number)."""
    return is_postgres(connection)
