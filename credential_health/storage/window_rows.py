"""A window's scheduled rows written as checks finish, so an interrupted run keeps what it already paid for.

Each batch replaces the window's scheduled rows of its own credentials (any earlier run's) in one transaction,
under a per-window lock, so two runs of one window never leave two rows for a credential. A rerun of a window
therefore replaces it credential by credential; `drop_absent` finally removes rows of credentials no longer
in the inventory. A row may carry its check's ScopeRecord under SCOPE (never stored in the checks table): the
scope audit (credential_health.scopes.audit) runs on the batch in the same transaction, before the insert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, and_, delete, select, tuple_
from sqlalchemy.exc import DataError

from credential_health.models import CheckResult, Source
from credential_health.storage import results
from credential_health.storage.schema import credential_health_checks as checks

log = logging.getLogger(__name__)

SCOPE = "_scope"  # a row's ScopeRecord, taken off before the insert

Key = tuple[str, str, str]
KEY_COLUMNS = results.KEY_COLUMNS
BATCH_ROWS = 500  # rows per transaction: small enough that a retry loses little, large enough to be cheap
BATCH_SECONDS = 5.0  # ... and at most this long between writes while checks are slow


def _scheduled_in(window_start: datetime):
    return and_(checks.c.window_start == window_start, checks.c.source == Source.SCHEDULED.value)


def _replace(connection: Connection, window_start: datetime, rows: list[dict], policy=None) -> None:
    """Per credential the newest observation wins: a row older than the stored one (a slow run overtaken by a
    rerun) is dropped, a newer one replaces it."""
    results.lock_window(connection, window_start)
    incoming = {(r["tenant_id"], r["exchange"], r["credential_type"]): r for r in rows}
    stored = _stored_checked_at(connection, window_start, sorted(incoming))
    rows = [r for key, r in incoming.items() if key not in stored or stored[key] <= r["checked_at"]]
    rows = _audit_scopes(connection, rows, policy)
    keys = sorted({(r["tenant_id"], r["exchange"], r["credential_type"]) for r in rows})
    for i in range(0, len(keys), results.IN_CHUNK):
        connection.execute(
            delete(checks).where(_scheduled_in(window_start), tuple_(*KEY_COLUMNS).in_(keys[i : i + results.IN_CHUNK]))
        )
    results.insert_rows(connection, rows)


def _audit_scopes(connection: Connection, rows: list[dict], policy) -> list[dict]:
    """The rows without their ScopeRecords, after the scope audit (which may re-code egress failures)."""
    from credential_health.scopes.audit import ScopeAudit, ScopePolicy  # the audit imports the notify layer

    records = {(r["tenant_id"], r["exchange"], r["credential_type"]): r[SCOPE] for r in rows if r.get(SCOPE)}
    clean = [{k: v for k, v in r.items() if k != SCOPE} for r in rows]
    return ScopeAudit(connection, policy or ScopePolicy(), datetime.now(timezone.utc)).run(clean, records)


def _stored_checked_at(connection: Connection, window_start: datetime, keys: list[Key]) -> dict[Key, datetime]:
    stored: dict[Key, datetime] = {}
    for i in range(0, len(keys), results.IN_CHUNK):
        query = select(*KEY_COLUMNS, checks.c.checked_at).where(
            _scheduled_in(window_start), tuple_(*KEY_COLUMNS).in_(keys[i : i + results.IN_CHUNK])
        )
        stored.update({tuple(row[:3]): row[3] for row in connection.execute(query)})
    return stored


def replace_rows(engine: Engine, window_start: datetime, rows: list[dict], policy=None) -> list[dict]:
    """Store `rows` as the window's scheduled rows of their credentials; returns the rows the database refused.

    A value the database cannot hold (DataError, e.g. a name longer than its column) refuses only its own row:
    the batch is retried in halves down to that row. Any other database error propagates.
    """
    if not rows:
        return []
    try:
        with engine.begin() as connection:
            _replace(connection, window_start, rows, policy)
        return []
    except (DataError, engine.dialect.loaded_dbapi.DataError):  # the driver's own from a PostgreSQL COPY
        if len(rows) == 1:
            return rows
    middle = len(rows) // 2
    return replace_rows(engine, window_start, rows[:middle], policy) + replace_rows(
        engine, window_start, rows[middle:], policy
    )


def run_rows(
    engine: Engine, window_start: datetime, run_id: str | None, keys: Collection[Key] | None = None
) -> list[dict]:
    """The window's scheduled rows written by run `run_id` (an earlier attempt of this step; None: any run),
    of the credentials in `keys` if given (one shard's)."""
    where = [_scheduled_in(window_start)] + ([checks.c.run_id == run_id] if run_id is not None else [])
    with engine.connect() as connection:
        if keys is None:
            return [dict(row) for row in connection.execute(select(checks).where(*where)).mappings()]
        wanted = sorted(keys)
        return [
            dict(row)
            for i in range(0, len(wanted), results.IN_CHUNK)
            for row in connection.execute(
                select(checks).where(*where, tuple_(*KEY_COLUMNS).in_(wanted[i : i + results.IN_CHUNK]))
            ).mappings()
        ]


def drop_absent(engine: Engine, window_start: datetime, inventory: Collection[Key]) -> int:
    """Delete the window's scheduled rows of credentials outside `inventory` (removed since an earlier run)."""
    wanted = set(inventory)
    with engine.begin() as connection:
        results.lock_window(connection, window_start)
        stale = sorted(results.window_keys(connection, window_start) - wanted)
        for i in range(0, len(stale), results.IN_CHUNK):
            connection.execute(
                delete(checks).where(
                    _scheduled_in(window_start), tuple_(*KEY_COLUMNS).in_(stale[i : i + results.IN_CHUNK])
                )
            )
    return len(stale)


class WindowWriter:
    """Buffers a window's results and writes them in batches (by count, or time) as checks finish."""

    def __init__(
        self,
        engine: Engine,
        window_start: datetime,
        to_row: Callable[[CheckResult], dict],
        batch_rows: int = BATCH_ROWS,
        batch_seconds: float = BATCH_SECONDS,
        policy=None,
    ):
        self.engine = engine
        self.window_start = window_start
        self.to_row = to_row
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.policy = policy  # the scope audit's ScopePolicy (None: no published egress, default levels)
        self.written = 0
        self.refused: list[dict] = []
        self._pending: list[dict] = []
        self._last_write = time.monotonic()

    def _row(self, check: CheckResult) -> dict:
        row = self.to_row(check)
        return {**row, SCOPE: check.scope} if check.scope is not None else row

    def add(self, check: CheckResult) -> None:
        self._pending.append(self._row(check))
        if len(self._pending) >= self.batch_rows or time.monotonic() - self._last_write >= self.batch_seconds:
            self.flush()

    def write(self, checks_: Iterable[CheckResult]) -> None:
        """Write these now (e.g. corrections made after the whole window was checked)."""
        self._pending.extend(self._row(c) for c in checks_)
        self.flush()

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        refused = replace_rows(self.engine, self.window_start, batch, self.policy)
        self.written += len(batch) - len(refused)
        self.refused += refused
        self._last_write = time.monotonic()
