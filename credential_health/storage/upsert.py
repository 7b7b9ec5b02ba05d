"""INSERT ... ON CONFLICT DO UPDATE of many rows, fast on PostgreSQL (COPY into a staging table) and SQLite."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, text

from credential_health.storage.dialect import insert_updating, is_postgres

# Below this many rows an executemany is as fast as staging on PostgreSQL.
STAGE_FROM = 200


def upsert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    updates: Sequence[str],
    rows: Sequence[Sequence],
) -> None:
    """Insert `rows` (value tuples in `columns` order); on a `keys` conflict, overwrite only `updates`."""
    if not rows:
        return
    if is_postgres(connection) and len(rows) >= STAGE_FROM:
        _staged_upsert(connection, table, columns, keys, updates, rows)
        return
    insert = insert_updating(connection, table, keys, updates)
    connection.execute(insert, [dict(zip(columns, row, strict=True)) for row in rows])


def _staged_upsert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    updates: Sequence[str],
    rows: Sequence[Sequence],
) -> None:
    # psycopg2 runs an ON CONFLICT executemany row by row (23 s at 100k rows): stage with COPY instead.
    from credential_health.storage.results import copy_rows  # results imports this module's users

    stage = f"{table.name}_stage"
    connection.execute(text(f"CREATE TEMP TABLE {stage} (LIKE {table.name}) ON COMMIT DROP"))
    copy_rows(connection, table, columns, rows, into=stage)
    names = ", ".join(columns)
    sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in updates)
    connection.execute(
        text(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        )
    )
    connection.execute(text(f"DROP TABLE {stage}"))
