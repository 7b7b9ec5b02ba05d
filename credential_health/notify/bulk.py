"""One UPDATE for many rows with different values (a CASE per column), instead of a round trip per row."""

from __future__ import annotations

import sqlalchemy as sa

from credential_health.storage.dialect import casts_case

CHUNK = 200


def update_by_key(
    connection: sa.Connection, table: sa.Table, key: str, rows: list[dict], columns: dict[str, str], *where, **fixed
) -> None:
    """For each row, set table column `name` to row[columns[name]] where table.key == row["id"]; also `fixed`.

    `where` adds conditions (a compare-and-set). The CASE is cast where the database needs it (see dialect).
    """
    cast = casts_case(connection)
    key_column = table.c[key]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        values = {}
        for name, field in columns.items():
            column = table.c[name]
            expression = sa.case({row["id"]: sa.literal(row[field], column.type) for row in chunk}, value=key_column)
            values[name] = sa.cast(expression, column.type) if cast else expression
        connection.execute(
            table.update().where(key_column.in_([row["id"] for row in chunk]), *where).values(**values, **fixed)
        )
