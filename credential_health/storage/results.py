"""Reads and writes of the checks audit table: idempotent window writes, history for the rollup, retention."""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    true,
    tuple_,
)

from credential_health.models import CheckResult, Source, Status
from credential_health.storage.dialect import is_postgres, serialize, set_local
from credential_health.storage.schema import credential_health_checks as checks
from credential_health.storage.schema import webhook_delivery_log
from credential_health.storage.types import UTCDateTime

Key = tuple[str, str, str]
KEY_COLUMNS = (checks.c.tenant_id, checks.c.exchange, checks.c.credential_type)
# What the rollup needs of each check, in this order.
EVENT_COLUMNS = (
    *KEY_COLUMNS,
    checks.c.window_start,
    checks.c.window_end,
    checks.c.source,
    checks.c.checked_at,
    checks.c.status,
    checks.c.error_code,
    checks.c.error_message,
    checks.c.late,
)
# Free-text columns a leaked secret could end up in (scanned by the no-secret-material check).
TEXT_COLUMNS = ("tenant_id", "exchange", "credential_type", "error_code", "error_message")
# Keys per tuple-IN query: 3 parameters each stays far below SQLite's and psycopg2's limits.
IN_CHUNK = 300
# Above this many keys, one ordered scan of the whole table beats many IN queries.
FULL_SCAN_KEYS = 5_000


def check_row(
    result: CheckResult,
    window_start: datetime,
    window_end: datetime,
    source: Source,
    run_id: str | None,
    late: bool = False,
) -> dict:
    return {
        "tenant_id": result.ref.tenant_id,
        "exchange": result.ref.exchange,
        "credential_type": result.ref.credential_type,
        "window_start": window_start,
        "window_end": window_end,
        "source": source.value,
        "checked_at": result.checked_at,
        "status": result.status.value,
        "error_code": result.error_code,
        "error_message": (result.error_message or None) and result.error_message[:500],
        "duration_ms": result.duration_ms,
        "attempts": result.attempts,
        "run_id": run_id,
        "late": late,
        "egress_address": result.egress_address or None,
    }


def _csv_text(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'  # quoted, so "" is not NULL


_ISO_TEXT: dict[datetime, str] = {}  # the same window bounds and run times recur on every row


def _csv_time(value: datetime | None) -> str:
    if value is None:
        return ""
    text = _ISO_TEXT.get(value)
    if text is None:
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass a timezone-aware value")
        if len(_ISO_TEXT) > 100_000:
            _ISO_TEXT.clear()
        text = _ISO_TEXT[value] = value.isoformat()
    return text


def _csv_plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _csv_formatter(table: Table, column: str) -> Callable[[Any], str]:
    kind = table.c[column].type
    if isinstance(kind, UTCDateTime):
        return _csv_time
    if isinstance(kind, String):
        return _csv_text
    return _csv_plain


def copy_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence], into: str | None = None
) -> None:
    """Bulk-load rows (value sequences in `columns` order) with PostgreSQL COPY: several times faster than
    multi-row INSERTs at 100k rows (measured). `into` loads a staging table shaped like `table` instead."""
    formats = [_csv_formatter(table, c) for c in columns]
    lines = [",".join([fmt(value) for fmt, value in zip(formats, row, strict=True)]) for row in rows]
    buffer = io.StringIO("\n".join(lines) + "\n")
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None  # None only once the connection is invalidated
    cursor = dbapi.cursor()
    try:
        cursor.copy_expert(f"COPY {into or table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def insert_rows(connection: Connection, rows: list[dict]) -> None:
    """Append check rows (e.g. a manual check, whose window_start is the window it was made in)."""
    if not rows:
        return
    if is_postgres(connection) and len(rows) > 100:
        columns = list(rows[0])
        copy_rows(connection, checks, columns, ([row[c] for c in columns] for row in rows))
    else:
        connection.execute(checks.insert(), rows)  # executemany


def replace_window(
    engine: Engine,
    window_start: datetime,
    window_end: datetime,
    results: Iterable[CheckResult],
    run_id: str | None,
    late_after: timedelta,
) -> int:
    """Replace the window's scheduled rows with `results` in one transaction; manual rows are kept.

    Writers of one window take turns (a lock held until commit), and the newest observations win: a write
    whose checks are all older than the rows already stored (a slow run overtaken by a rerun) is dropped and
    0 returned. A check made more than `late_after` after the window ended is stored with `late` set.
    """
    rows = [
        check_row(r, window_start, window_end, Source.SCHEDULED, run_id, r.checked_at > window_end + late_after)
        for r in results
    ]
    scheduled = and_(checks.c.window_start == window_start, checks.c.source == Source.SCHEDULED.value)
    with engine.begin() as connection:
        lock_window(connection, window_start)
        stored_newest = connection.execute(select(func.max(checks.c.checked_at)).where(scheduled)).scalar()
        if rows and stored_newest is not None and stored_newest > max(r["checked_at"] for r in rows):
            return 0
        connection.execute(delete(checks).where(scheduled))
        insert_rows(connection, rows)  # the unique index refuses a second row per credential and window
    return len(rows)


def lock_window(connection: Connection, window_start: datetime) -> None:
    """Serialise writers of one window until the transaction ends (other windows are not blocked on PostgreSQL)."""
    serialize(connection, "credential_health.window", checks.c.late, key=window_start.isoformat())


def window_events(connection: Connection, window_start: datetime) -> list:
    """The window's scheduled checks as EVENT_COLUMNS rows."""
    query = select(*EVENT_COLUMNS).where(
        checks.c.window_start == window_start, checks.c.source == Source.SCHEDULED.value
    )
    return list(connection.execute(query).all())


def window_keys(connection: Connection, window_start: datetime) -> set[Key]:
    query = select(*KEY_COLUMNS).where(checks.c.window_start == window_start, checks.c.source == Source.SCHEDULED.value)
    return {tuple(row) for row in connection.execute(query)}


def window_text(engine: Engine, window_start: datetime) -> Iterator[tuple[str, str]]:
    """(column, value) of every non-empty text value stored for the window (scheduled and manual)."""
    columns = [checks.c[name] for name in TEXT_COLUMNS]
    with engine.connect() as connection:
        for source in Source:  # one query per source: each has its own partial index on window_start
            query = select(*columns).where(checks.c.window_start == window_start, checks.c.source == source.value)
            for row in connection.execute(query):
                for name, value in zip(TEXT_COLUMNS, row, strict=True):
                    if value:
                        yield name, value


def _key_filters(keys: set[Key]) -> list:
    """WHERE clauses selecting `keys` in chunks; one unfiltered pass when there are many (filtered in Python)."""
    if len(keys) > FULL_SCAN_KEYS:
        return [true()]
    ordered = sorted(keys)
    return [tuple_(*KEY_COLUMNS).in_(ordered[i : i + IN_CHUNK]) for i in range(0, len(ordered), IN_CHUNK)]


def history_tails(
    connection: Connection,
    keys: Collection[Key],
    before: datetime | None = None,
) -> Iterator[tuple[Key, int, datetime | None, list]]:
    """What recomputing a credential needs, without reading its whole history into Python:

    (key, distinct scheduled windows, newest scheduled window_start, EVENT_COLUMNS rows). A valid check resets
    the streak and ends any episode, so the rows needed are those from the window of the newest valid check
    (the current state) and, when window `before` changed, those from the newest valid before it up to the
    first valid from it on (the episodes it can touch); the stretch in between cannot change. A manual check's
    window_start is the window it was made in, so that window bounds a range from below.
    """
    wanted = set(keys)
    if not wanted:
        return
    scheduled = checks.c.source == Source.SCHEDULED.value
    valid, start = checks.c.status == Status.VALID.value, checks.c.window_start
    bounds = [func.max(case((valid, start))).label("newest_valid")]
    if before is not None:
        bounds += [
            func.max(case((and_(valid, start < before), start))).label("valid_before"),
            func.min(case((and_(valid, start >= before), start))).label("valid_from"),
        ]
    set_local(connection, "work_mem", "256MB")  # the whole-table pass hashes every credential in memory
    for where in _key_filters(wanted):
        agg = (
            select(
                *KEY_COLUMNS,
                *bounds,
                # the unique index keeps one scheduled row per credential and window: a plain count is
                # exact, and unlike count(DISTINCT) it lets PostgreSQL hash-aggregate instead of sorting the table
                func.count(case((scheduled, start))).label("seen"),
                func.max(case((scheduled, start))).label("last_ws"),
            )
            .where(where)
            .group_by(*KEY_COLUMNS)
            .subquery()
        )
        same_key = and_(*(c == agg.c[c.name] for c in KEY_COLUMNS))
        needed = or_(agg.c.newest_valid.is_(None), start >= agg.c.newest_valid)
        if before is not None:
            needed = and_(
                or_(agg.c.valid_before.is_(None), start >= agg.c.valid_before),
                or_(agg.c.valid_from.is_(None), start <= agg.c.valid_from, needed),
            )
        query = (
            select(*EVENT_COLUMNS, agg.c.seen, agg.c.last_ws)
            .join_from(checks, agg, same_key)
            .where(needed)
            .order_by(*KEY_COLUMNS)
        )
        group: list = []
        for row in connection.execute(query, execution_options={"stream_results": True, "yield_per": 10_000}):
            key = (row[0], row[1], row[2])
            if group and key != group[0][:3]:
                if group[0][:3] in wanted:
                    yield group[0][:3], group[0][-2], group[0][-1], [r[:-2] for r in group]
                group = []
            group.append(tuple(row))
        if group and group[0][:3] in wanted:
            yield group[0][:3], group[0][-2], group[0][-1], [r[:-2] for r in group]


def delete_checks_before(engine: Engine, cutoff: datetime) -> int:
    """Retention: drop checks made before `cutoff`; returns how many."""
    with engine.begin() as connection:
        return connection.execute(delete(checks).where(checks.c.checked_at < cutoff)).rowcount


def delete_delivery_log_before(engine: Engine, cutoff: datetime) -> int:
    """Retention: drop webhook delivery attempts made before `cutoff`; returns how many."""
    with engine.begin() as connection:
        return connection.execute(
            delete(webhook_delivery_log).where(webhook_delivery_log.c.attempted_at < cutoff)
        ).rowcount
