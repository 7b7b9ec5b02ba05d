"""What a rerun or backfill of an old window needs from the checks table at scale, on PostgreSQL.

Per credential: its scheduled window count and newest window (one counting pass, the only whole-table read),
and the stretch around the changed window: the newest valid check before it, the first valid from it on, and
whether a valid check follows it. Those come from a range read of the window's neighbourhood through the
window-leading indexes; only credentials without a valid check nearby are looked up by credential. The rollup
then keeps the stored state of every credential a later valid check shields from the window, and reads rows
(`rows_between`) only for the few whose stretch may hold an episode or whose state depends on the window.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, text

from credential_health.storage.results import EVENT_COLUMNS

Key = tuple[str, str, str]
NEAR = timedelta(hours=12)  # the neighbourhood read by window range, each side of the changed window
_KEY = "tenant_id, exchange, credential_type"
_SAME_KEY = "x.tenant_id = c.tenant_id AND x.exchange = c.exchange AND x.credential_type = c.credential_type"
_NEAR_ROWS = """SELECT {key}, window_start, status, source, late FROM credential_health_checks
    WHERE source = '{source}' AND window_start BETWEEN :lo AND :hi"""


class Stretch(NamedTuple):
    seen: int  # scheduled windows stored
    last_ws: datetime | None  # newest scheduled window_start
    valid_before: datetime | None  # window of the newest valid check before the changed window
    valid_from: datetime | None  # window of the first valid check from the changed window on
    valid_after: bool  # a valid check in a later window: the current state does not depend on the window
    quiet: bool  # the stretch lies in the neighbourhood and holds fewer than `threshold` counted failures


def _settings(connection: Connection) -> None:
    connection.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves on these queries
    # raw SQL has no UTCDateTime on the way out: in UTC, psycopg2's timestamps carry offset 0 (ids hash isoformat)
    connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    connection.execute(text("SET LOCAL work_mem = '256MB'"))


def stretches(
    connection: Connection, before: datetime, threshold: int, fresh: Collection[Key] = ()
) -> dict[Key, Stretch]:
    """The Stretch around window `before` of every credential whose stored state may not stand as it is (and
    of the `fresh` ones): one pass over the table, one over the neighbourhood."""
    _settings(connection)
    connection.execute(text("DROP TABLE IF EXISTS rerun_counts, rerun_manual, rerun_near, rerun_fails"))
    # In credential order off the credential index, without the heap (2x faster than hashing 12M keys); the
    # index holds manual rows too, subtracted below (few). One scheduled row per window: count(*) is exact.
    connection.execute(text("SET LOCAL enable_hashagg = off"))
    connection.execute(
        text(f"""
        CREATE TEMP TABLE rerun_counts ON COMMIT DROP AS
        SELECT {_KEY}, count(*) AS n, max(window_start) AS last_any FROM credential_health_checks GROUP BY {_KEY}""")
    )
    connection.execute(text("SET LOCAL enable_hashagg TO DEFAULT"))
    connection.execute(
        text(f"""
        CREATE TEMP TABLE rerun_manual ON COMMIT DROP AS
        SELECT {_KEY}, count(*) AS n, max(window_start) AS last_any FROM credential_health_checks
        WHERE source = 'manual' GROUP BY {_KEY}""")
    )
    near = " UNION ALL ".join(_NEAR_ROWS.format(key=_KEY, source=s) for s in ("scheduled", "manual"))
    bounds = {"before": before, "lo": before - NEAR, "hi": before + NEAR}
    connection.execute(
        text(f"""
        CREATE TEMP TABLE rerun_near ON COMMIT DROP AS
        SELECT {_KEY},
               max(window_start) FILTER (WHERE status = 'valid' AND window_start < :before) AS vb,
               min(window_start) FILTER (WHERE status = 'valid' AND window_start >= :before) AS vf,
               min(window_start) FILTER (WHERE status = 'valid' AND window_start > :before) AS va
        FROM ({near}) AS r GROUP BY {_KEY}"""),
        bounds,
    )
    connection.execute(text("ANALYZE rerun_counts, rerun_manual, rerun_near"))
    # counted failures inside each stretch (few rows: in-time invalid ones)
    connection.execute(
        text(f"""
        CREATE TEMP TABLE rerun_fails ON COMMIT DROP AS
        WITH r AS MATERIALIZED (  -- by window range, then hashed (not 100k index lookups)
            SELECT {_KEY}, window_start FROM credential_health_checks WHERE source = 'scheduled'
            AND window_start BETWEEN :lo AND :hi AND status = 'invalid' AND NOT late)
        SELECT {_KEY}, count(*) AS fails FROM r JOIN rerun_near n USING ({_KEY})
        WHERE r.window_start >= n.vb AND r.window_start <= n.vf GROUP BY {_KEY}"""),
        bounds,
    )
    # COALESCE evaluates a lookup only when the neighbourhood had no answer (the credential index serves it)
    lookup = (
        "(SELECT {f}(x.window_start) FROM credential_health_checks x WHERE {same} AND x.status = 'valid' "
        "AND x.window_start {op} :{bound})"
    )
    # Credentials the rollup would keep exactly as stored (in step, same window count, shielded by a later valid
    # check, no episode possible in the stretch, no open episode in it) are left out: most of them, in a rerun.
    rows = connection.execute(
        text(f"""
        SELECT t.* FROM (
            SELECT tenant_id, exchange, credential_type, c.n - coalesce(m.n, 0) AS seen,
                   CASE WHEN m.last_any IS NULL OR m.last_any < c.last_any THEN c.last_any
                        ELSE (SELECT max(x.window_start) FROM credential_health_checks x
                              WHERE {_SAME_KEY} AND x.source = 'scheduled') END AS last_ws,
                   coalesce(n.vb, {lookup.format(f="max", same=_SAME_KEY, op="<", bound="lo")}) AS vb,
                   coalesce(n.vf, {lookup.format(f="min", same=_SAME_KEY, op=">", bound="hi")}) AS vf,
                   CASE WHEN n.va IS NOT NULL THEN true
                        ELSE {lookup.format(f="min", same=_SAME_KEY, op=">", bound="hi")} IS NOT NULL END AS va,
                   n.vb IS NOT NULL AND n.vf IS NOT NULL AND coalesce(f.fails, 0) < :threshold AS quiet
            FROM rerun_counts c
            LEFT JOIN rerun_manual m USING (tenant_id, exchange, credential_type)
            LEFT JOIN rerun_near n USING (tenant_id, exchange, credential_type)
            LEFT JOIN rerun_fails f USING (tenant_id, exchange, credential_type)) AS t
        LEFT JOIN credential_status s USING (tenant_id, exchange, credential_type)
        LEFT JOIN (SELECT {_KEY}, min(first_failing_window) AS open_from FROM credential_failure_episodes
                   WHERE closed_at IS NULL GROUP BY {_KEY}) AS o USING (tenant_id, exchange, credential_type)
        WHERE NOT coalesce(s.present_in_inventory AND s.last_event_at IS NOT NULL AND t.va AND t.quiet
                           AND s.last_window_start = t.last_ws AND s.windows_seen = t.seen
                           AND (o.open_from IS NULL OR o.open_from > t.vf), false)
           OR (t.tenant_id, t.exchange, t.credential_type) IN (
               SELECT * FROM unnest(CAST(:ft AS text[]), CAST(:fe AS text[]), CAST(:fk AS text[])))
    """),
        {
            **bounds,
            "threshold": threshold,
            "ft": [k[0] for k in fresh],
            "fe": [k[1] for k in fresh],
            "fk": [k[2] for k in fresh],
        },
    ).all()
    return {tuple(row[:3]): Stretch(*row[3:]) for row in rows}


def rows_between(
    connection: Connection,
    wanted: Mapping[Key, tuple[datetime | None, datetime | None]],
    around: datetime | None = None,
) -> Iterator[tuple[Key, list]]:
    """(key, EVENT_COLUMNS rows with lo <= window_start <= hi; None: unbounded) of each wanted credential.

    Stretches inside the neighbourhood of window `around` are read by window range (a credential's rows lie on
    as many heap pages as it has windows: thousands of index lookups cost more); the others by credential.
    """
    if not wanted:
        return
    _settings(connection)
    lo_near, hi_near = (around - NEAR, around + NEAR) if around is not None else (None, None)
    near = {
        k
        for k, (lo, hi) in wanted.items()
        if lo_near is not None
        and hi_near is not None
        and lo is not None
        and hi is not None
        and lo >= lo_near
        and hi <= hi_near
    }
    columns = ", ".join(f"c.{column.name}" for column in EVENT_COLUMNS)
    ranged = " UNION ALL ".join(
        f"SELECT * FROM credential_health_checks WHERE source = '{source}' AND "
        "window_start BETWEEN :lo_near AND :hi_near"
        for source in ("scheduled", "manual")
    )
    queries = (
        (
            near,
            f"""WITH c AS MATERIALIZED ({ranged}) SELECT {columns} FROM c JOIN {{keys}} ON {_SAME_KEY}
                   WHERE c.window_start BETWEEN x.lo AND x.hi""",
        ),
        (
            wanted.keys() - near,
            f"""SELECT {columns} FROM {{keys}} CROSS JOIN LATERAL (
                   SELECT * FROM credential_health_checks c WHERE {_SAME_KEY} AND
                   c.window_start >= coalesce(x.lo, '-infinity')
                   AND c.window_start <= coalesce(x.hi, 'infinity')) c""",
        ),
    )
    keys_sql = """unnest(CAST(:t AS text[]), CAST(:e AS text[]), CAST(:k AS text[]), CAST(:lo AS timestamptz[]),
                         CAST(:hi AS timestamptz[])) AS x(tenant_id, exchange, credential_type, lo, hi)"""
    for subset, query in queries:
        if not subset:
            continue
        keys = sorted(subset)
        rows = connection.execute(
            text(query.format(keys=keys_sql) + " ORDER BY c.tenant_id, c.exchange, c.credential_type"),
            {
                "t": [k[0] for k in keys],
                "e": [k[1] for k in keys],
                "k": [k[2] for k in keys],
                "lo": [wanted[k][0] for k in keys],
                "hi": [wanted[k][1] for k in keys],
                "lo_near": lo_near,
                "hi_near": hi_near,
            },
            execution_options={"stream_results": True, "yield_per": 10_000},
        )
        group: list = []
        for row in rows:
            if group and tuple(row[:3]) != tuple(group[0][:3]):
                yield tuple(group[0][:3]), group
                group = []
            group.append(tuple(row))
        if group:
            yield tuple(group[0][:3]), group
