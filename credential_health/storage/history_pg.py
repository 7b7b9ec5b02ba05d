"""The rollup's history pass for a rerun or backfill of an old window at scale, on PostgreSQL.

The generic pass (storage.results.history_tails) joins every credential's bounds back onto the whole checks
table: at 100k credentials x 120 windows that hash join probes 12M rows on one core (~8 s). The rows a rerun
of window W needs are those between the newest valid check before W and the first valid from W on (the
episodes W can touch), and those from the newest valid check on (the current state). For nearly every
credential both stretches are short and recent, so they are read by window_start ranges through the
window-leading indexes; only credentials with a long stretch (failing for days) are read by credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from credential_health.storage.results import EVENT_COLUMNS

Key = tuple[str, str, str]
# A stretch that starts within this span of W (or of the newest window) is read by window_start range.
NEAR = timedelta(days=1)
_COLUMNS = ", ".join(f"c.{column.name}" for column in EVENT_COLUMNS)
_SAME_KEY = "c.tenant_id = b.tenant_id AND c.exchange = b.exchange AND c.credential_type = b.credential_type"
# the rows of a credential a recompute needs (the same predicate as storage.results.history_tails)
_NEEDED = """(b.valid_before IS NULL OR c.window_start >= b.valid_before)
    AND (b.valid_from IS NULL OR c.window_start <= b.valid_from OR b.newest_valid IS NULL
         OR c.window_start >= b.newest_valid)"""


def rerun_tails(connection: Connection, before: datetime) -> Iterator[tuple[Key, int, datetime | None, list]]:
    """(key, scheduled windows, newest scheduled window_start, EVENT_COLUMNS rows) of every credential."""
    connection.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves on these queries
    # raw SQL has no UTCDateTime on the way out: in UTC, psycopg2's timestamps carry offset 0 (ids hash isoformat)
    connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    connection.execute(text("SET LOCAL work_mem = '256MB'"))
    connection.execute(text("DROP TABLE IF EXISTS rerun_bounds; DROP TABLE IF EXISTS rerun_rows"))
    # one parallel hash-aggregate pass: each credential's bounds (one scheduled row per window: count is exact)
    connection.execute(text("""
        CREATE TEMP TABLE rerun_bounds ON COMMIT DROP AS
        SELECT tenant_id, exchange, credential_type,
               max(window_start) FILTER (WHERE status = 'valid') AS newest_valid,
               max(window_start) FILTER (WHERE status = 'valid' AND window_start < :before) AS valid_before,
               min(window_start) FILTER (WHERE status = 'valid' AND window_start >= :before) AS valid_from,
               count(*) FILTER (WHERE source = 'scheduled') AS seen,
               max(window_start) FILTER (WHERE source = 'scheduled') AS last_ws
        FROM credential_health_checks GROUP BY tenant_id, exchange, credential_type"""), {"before": before})
    newest = connection.execute(text("SELECT max(last_ws) FROM rerun_bounds")).scalar()
    if newest is None:
        return
    ranges = {"lo_a": before - NEAR, "hi_a": before + NEAR, "lo_b": newest - NEAR}
    connection.execute(text("""
        ALTER TABLE rerun_bounds ADD COLUMN near boolean;
        UPDATE rerun_bounds SET near = valid_before >= :lo_a AND valid_from <= :hi_a AND newest_valid >= :lo_b;
        ANALYZE rerun_bounds"""), ranges)
    in_ranges = "(c.window_start BETWEEN :lo_a AND :hi_a OR c.window_start >= :lo_b)"
    connection.execute(text(f"""
        CREATE TEMP TABLE rerun_rows ON COMMIT DROP AS
        SELECT {_COLUMNS}, b.seen, b.last_ws FROM credential_health_checks c JOIN rerun_bounds b ON {_SAME_KEY}
        WHERE b.near AND c.source = 'scheduled' AND {in_ranges} AND {_NEEDED}
        UNION ALL
        SELECT {_COLUMNS}, b.seen, b.last_ws FROM credential_health_checks c JOIN rerun_bounds b ON {_SAME_KEY}
        WHERE b.near AND c.source = 'manual' AND {in_ranges} AND {_NEEDED}
        UNION ALL
        SELECT {_COLUMNS}, b.seen, b.last_ws FROM credential_health_checks c JOIN rerun_bounds b ON {_SAME_KEY}
        WHERE b.near IS NOT TRUE AND {_NEEDED}"""), ranges)
    rows = connection.execute(text("SELECT * FROM rerun_rows ORDER BY tenant_id, exchange, credential_type"),
                              execution_options={"stream_results": True, "yield_per": 10_000})
    group: list = []
    for row in rows:
        if group and tuple(row[:3]) != tuple(group[0][:3]):
            yield tuple(group[0][:3]), group[0][-2], group[0][-1], [r[:-2] for r in group]
            group = []
        group.append(tuple(row))
    if group:
        yield tuple(group[0][:3]), group[0][-2], group[0][-1], [r[:-2] for r in group]

