"""The consecutive-failure rollup: pure streak folding, and how it is applied to `credential_status`.

Every check is an event with an order key: a scheduled check's window END, a manual check's `checked_at`.
Folding events in order-key order gives the status. An event newer than a credential's `last_event_at`
folds in O(1) from the stored state; anything else (a backfill, a rerun) recomputes that credential from
its history (only the checks from its newest valid one on are read), so the stored state never depends on
the order windows ran in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, and_, func, select, text, tuple_, update
from sqlalchemy.dialects import sqlite

from credential_health.models import Source, Status
from credential_health.storage import results as checks_table
from credential_health.storage.schema import credential_status as status_table

Key = tuple[str, str, str]
KEY_NAMES = ("tenant_id", "exchange", "credential_type")
SCHEDULED, MANUAL = Source.SCHEDULED.value, Source.MANUAL.value
VALID, INVALID = Status.VALID.value, Status.INVALID.value


class Event(NamedTuple):  # NamedTuples: 100k of each per window, and they build ~3x faster than dataclasses
    """One check as the rollup sees it."""

    order_key: datetime
    source: str
    window_start: datetime
    checked_at: datetime
    status: str
    error_code: str
    error_message: str | None

    @classmethod
    def from_row(cls, row: Sequence, interval: timedelta) -> Event:
        """From a checks row in `storage.results.EVENT_COLUMNS` order."""
        _, _, _, window_start, source, checked_at, status, code, message = row
        order_key = window_start + interval if source == SCHEDULED else checked_at
        return cls(order_key, source, window_start, checked_at, status, code, message)

    def sort_key(self) -> tuple:
        # Ties (a manual check at exactly a window end) resolve the same way every time.
        return (self.order_key, self.source != SCHEDULED, self.checked_at, self.status)


class StreakState(NamedTuple):
    """The history-derived columns of one `credential_status` row, in table column order."""

    last_status: str | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_checked_at: datetime | None = None
    last_window_start: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    windows_seen: int = 0
    last_event_at: datetime | None = None


STATE_NAMES = StreakState._fields
# Every credential_status column the rollup writes (alerted_at belongs to the notify job).
WRITTEN = (*KEY_NAMES, *STATE_NAMES, "present_in_inventory", "removed_at", "updated_at")


def fold(state: StreakState, event: Event) -> StreakState:
    """The state after one more event; `event` must sort after everything already in `state`."""
    streak, since, success = state.consecutive_failures, state.failing_since, state.last_success_at
    if event.status == VALID:  # a valid check, scheduled or manual, ends the episode
        streak, since, success = 0, None, event.checked_at
    elif event.status == INVALID and event.source == SCHEDULED:  # only windows count
        streak, since = streak + 1, since if streak else event.window_start
    scheduled = event.source == SCHEDULED
    return StreakState(
        last_status=event.status,
        last_error_code=event.error_code,
        last_error_message=event.error_message,
        last_checked_at=event.checked_at,
        last_window_start=event.window_start if scheduled else state.last_window_start,
        last_success_at=success,
        consecutive_failures=streak,
        failing_since=since,
        windows_seen=state.windows_seen + 1 if scheduled else state.windows_seen,
        last_event_at=event.order_key,
    )


def replay(events: Iterable[Event]) -> StreakState:
    """The state of a credential from its whole history, in any input order."""
    state = StreakState()
    seen_windows: set[datetime] = set()
    for event in sorted(events, key=Event.sort_key):
        if event.source == SCHEDULED:
            if event.window_start in seen_windows:  # duplicate scheduled rows count once
                continue
            seen_windows.add(event.window_start)
        state = fold(state, event)
    return state


def can_fold(state: StreakState | None, event: Event) -> bool:
    return state is None or state.last_event_at is None or event.order_key > state.last_event_at


@dataclass(frozen=True)
class RollupSummary:
    credentials: int  # status rows after the update
    folded: int  # updated in O(1)
    recomputed: int  # rebuilt from history (backfill, rerun, reappearance)
    removed: int  # newly marked absent from the inventory
    reappeared: int
    failing: int  # present credentials with a streak > 0
    at_threshold: int  # present credentials whose streak reached the alert threshold
    compute_seconds: float = 0.0  # lock, read state and history, fold
    write_seconds: float = 0.0  # upsert into credential_status


def apply_events(connection: Connection, events: dict[Key, list[Event]], interval: timedelta, now: datetime,
                 inventory: set[Key] | None = None, threshold: int = 3) -> RollupSummary:
    """Fold `events` into `credential_status` (call inside a transaction).

    With `inventory`, credentials outside it are marked removed (and lose their streak: never alerted),
    and credentials back in it are recomputed. `alerted_at` is never touched (the notify job owns it).
    """
    began = time.perf_counter()
    _serialize(connection)
    stored = _load(connection)
    new_states: dict[Key, StreakState] = {}
    recompute: set[Key] = set()
    for key, batch in events.items():
        state = stored[key][0] if key in stored else None
        if len(batch) == 1 and can_fold(state, batch[0]):
            new_states[key] = fold(state or StreakState(), batch[0])
        else:
            recompute.add(key)
    reappeared = {k for k, (_, present, _) in stored.items() if not present and inventory is not None and k in inventory}
    recompute |= reappeared
    for key, seen, last_window_start, tail in checks_table.history_tails(connection, recompute):
        state = replay(Event.from_row(row, interval) for row in tail)
        new_states[key] = state._replace(windows_seen=seen, last_window_start=last_window_start)
    for key in recompute - new_states.keys():  # no history left (retention): an empty state
        new_states[key] = StreakState()

    computed = time.perf_counter()
    rows, removed = [], 0
    keys = new_states.keys() | (stored.keys() if inventory is not None else set())
    for key in keys:
        old_state, was_present, removed_at = stored.get(key, (None, True, None))
        state = new_states.get(key, old_state)
        present = was_present if inventory is None else key in inventory
        if not present:  # removed credentials keep their history but never a streak
            state = state._replace(consecutive_failures=0, failing_since=None)
            removed += was_present
            removed_at = removed_at or now
        else:
            removed_at = None
        if key in new_states or present != was_present:
            rows.append((*key, *state, present, removed_at, now))
    _upsert(connection, rows)
    failing, at_threshold = _counts(connection, threshold)
    return RollupSummary(
        credentials=len(stored.keys() | new_states.keys()),
        folded=len(new_states) - len(recompute), recomputed=len(recompute), removed=removed,
        reappeared=len(reappeared), failing=failing, at_threshold=at_threshold,
        compute_seconds=round(computed - began, 3), write_seconds=round(time.perf_counter() - computed, 3),
    )


def apply_window(connection: Connection, window_start: datetime, interval: timedelta, now: datetime,
                 inventory: set[Key] | None, threshold: int = 3) -> RollupSummary:
    """Fold one window's scheduled checks into `credential_status`."""
    events: dict[Key, list[Event]] = {}
    for row in checks_table.window_events(connection, window_start):
        events.setdefault((row[0], row[1], row[2]), []).append(Event.from_row(row, interval))
    return apply_events(connection, events, interval, now, inventory, threshold)


def _serialize(connection: Connection) -> None:
    """One rollup at a time (backfills run windows concurrently): read-fold-write must not interleave.

    Held until the transaction ends; taken before any read, so the state read is the latest committed one.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('credential_health.rollup'))"))
    else:  # SQLite: a write statement (even one matching no row) takes the database's write lock now
        connection.execute(update(status_table).where(text("1 = 0")).values(updated_at=status_table.c.updated_at))


def _load(connection: Connection) -> dict[Key, tuple[StreakState, bool, datetime | None]]:
    columns = [status_table.c[n] for n in (*KEY_NAMES, *STATE_NAMES, "present_in_inventory", "removed_at")]
    rows = connection.execute(select(*columns)).all()  # fetchall: row-by-row fetchone costs ~1 s at 100k
    return {tuple(row[:3]): (StreakState(*row[3:-2]), row[-2], row[-1]) for row in rows}


def _upsert(connection: Connection, rows: list[tuple]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of the WRITTEN columns (tuples in that order); `alerted_at` is kept."""
    if not rows:
        return
    names = [n for n in WRITTEN if n not in KEY_NAMES]
    if connection.dialect.name == "postgresql":
        # psycopg2 runs an ON CONFLICT executemany row by row (23 s at 100k): stage with COPY instead.
        connection.execute(text(
            f"CREATE TEMP TABLE credential_status_stage (LIKE {status_table.name}) ON COMMIT DROP"))
        checks_table.copy_rows(connection, status_table, WRITTEN, rows, into="credential_status_stage")
        columns = ", ".join(WRITTEN)
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
        connection.execute(text(
            f"INSERT INTO {status_table.name} ({columns}) SELECT {columns} FROM credential_status_stage "
            f"ON CONFLICT ({', '.join(KEY_NAMES)}) DO UPDATE SET {updates}"))
        connection.execute(text("DROP TABLE credential_status_stage"))
        return
    if connection.dialect.name != "sqlite":
        raise NotImplementedError(f"credential_status upsert is written for PostgreSQL and SQLite, "
                                  f"not {connection.dialect.name}")
    statement = sqlite.insert(status_table)
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY_NAMES), set_={n: statement.excluded[n] for n in names}
    )
    connection.execute(statement, [dict(zip(WRITTEN, row)) for row in rows])


def _counts(connection: Connection, threshold: int) -> tuple[int, int]:
    present = status_table.c.present_in_inventory.is_(True)
    failures = status_table.c.consecutive_failures
    query = select(
        func.count().filter(and_(present, failures > 0)),
        func.count().filter(and_(present, failures >= threshold)),
    )
    failing, at_threshold = connection.execute(query).one()
    return failing, at_threshold


# --- reading the status (the notify job reads credential_status itself and owns alerted_at) --------------


def status_rows(connection: Connection, keys: Iterable[Key] | None = None) -> list[dict]:
    """`credential_status` rows as dicts (all of them, or those of `keys`)."""
    key_columns = [status_table.c[n] for n in KEY_NAMES]
    query = select(status_table).order_by(*key_columns)
    if keys is not None:
        query = query.where(tuple_(*key_columns).in_(sorted(set(keys))))
    return [dict(row._mapping) for row in connection.execute(query)]
