"""The consecutive-failure rollup: how events are folded into `credential_status`, with the failure episodes
and their outbox rows written in the same transaction.

An event newer than a credential's `last_event_at` folds in O(1) from the stored state; anything else (a
backfill, a rerun) recomputes that credential from its history (only the checks from its newest valid one
before the changed window on are read), so the stored state and the episodes never depend on the order
windows ran in. The pure folding lives in `rollup_fold`, episode derivation in `episodes`; a rerun of an old
window at scale on PostgreSQL goes through `rollup_rerun`, which keeps the states a later valid check shields.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, TextClause, and_, func, select, text, tuple_

from credential_health import episodes as episode_rules
from credential_health import rollup_rerun
from credential_health.notify.outbox import FAILED, RECOVERED, write_episode_events
from credential_health.rollup_fold import (  # noqa: F401 - re-exported: the rollup's public vocabulary
    INVALID,
    KEY_NAMES,
    MANUAL,
    SCHEDULED,
    STATE_NAMES,
    VALID,
    Event,
    Key,
    StreakState,
    can_fold,
    fold,
    replay,
)
from credential_health.storage import episodes as episode_table
from credential_health.storage import results as checks_table
from credential_health.storage.dialect import is_postgres, serialize, set_local
from credential_health.storage.schema import credential_status as status_table
from credential_health.storage.upsert import upsert

# Every credential_status column the rollup writes (all but the key's defaults).
WRITTEN = (*KEY_NAMES, *STATE_NAMES, "alerted_at", "present_in_inventory", "removed_at", "updated_at")
DEFAULT_SPACING = timedelta(hours=1)


@dataclass(frozen=True)
class RollupSummary:
    credentials: int  # status rows after the update
    folded: int  # updated in O(1)
    recomputed: int  # rebuilt from history (backfill, rerun, reappearance)
    removed: int  # newly marked absent from the inventory
    reappeared: int
    failing: int  # present credentials with a streak > 0
    at_threshold: int  # present credentials whose streak reached the alert threshold
    late: int = 0  # late checks among the events folded (backfills: shown, never counted)
    episodes_opened: int = 0  # episodes opened and announced
    episodes_closed: int = 0  # episodes closed (recovered, removed or revised)
    failed_events: int = 0  # credential.failed events (one per announced episode, whatever its endpoints)
    recovered_events: int = 0  # credential.recovered events
    compute_seconds: float = 0.0  # lock, read state and history, fold, episodes
    write_seconds: float = 0.0  # upsert into credential_status, episodes and outbox
    unchanged: int = 0  # recomputed credentials whose row was already right (not rewritten)


def apply_events(
    connection: Connection,
    events: dict[Key, list[Event]],
    now: datetime,
    inventory: set[Key] | None = None,
    threshold: int = 3,
    spacing: timedelta = DEFAULT_SPACING,
) -> RollupSummary:
    """Fold `events` into `credential_status`, and record episodes and their outbox rows (inside a transaction).

    With `inventory`, credentials outside it are marked removed (they lose their streak; an open episode closes
    as `removed`, without an event), and credentials back in it are recomputed. `spacing` keeps each
    credential's webhooks at least that far apart (WEBHOOK_MIN_INTERVAL_SECONDS).
    """
    began = time.perf_counter()
    _serialize(connection)
    stored = _load(connection)
    open_episodes = episode_table.open_episodes(connection)
    new_states: dict[Key, StreakState] = {}
    derived: dict[Key, list[episode_rules.Episode]] = {}
    recompute: set[Key] = set()
    for key, batch in events.items():
        state = stored[key][0] if key in stored else None
        if len(batch) == 1 and can_fold(state, batch[0]):
            state = state or StreakState()
            new = new_states[key] = fold(state, batch[0])
            if new.consecutive_failures >= threshold or state.consecutive_failures >= threshold or key in open_episodes:
                derived[key] = episode_rules.track(key, state, batch, threshold)[1]
        else:
            recompute.add(key)
    reappeared = {
        k for k, (_, present, *_) in stored.items() if not present and inventory is not None and k in inventory
    }
    recompute |= reappeared
    before = min((e.window_start for k in recompute for e in events.get(k, ())), default=None)
    stretch_end: dict[Key, datetime] = {}  # credentials whose stored state a rerun kept (see rollup_rerun)
    kept: set[Key] = set()  # ... of which nothing changed at all
    if before is not None and len(recompute) > checks_table.FULL_SCAN_KEYS and is_postgres(connection):
        leaving = recompute - inventory if inventory is not None else set()
        done = rollup_rerun.recompute(
            connection, recompute, before, stored, open_episodes, reappeared | leaving, threshold
        )
        new_states |= done.states
        derived |= done.derived
        stretch_end, kept = done.stretch_end, done.unchanged
    else:
        for key, seen, last_window_start, tail in checks_table.history_tails(connection, recompute, before):
            state, derived[key] = episode_rules.track_history(key, map(Event.from_row, tail), threshold)
            new_states[key] = state._replace(windows_seen=seen, last_window_start=last_window_start)
    for key in recompute - new_states.keys() - kept:  # no history left (retention): an empty state
        new_states[key] = StreakState()

    rows, removed, final = [], 0, {}
    keys = new_states.keys() | (stored.keys() if inventory is not None else set())
    known = {e.episode_id: e for batch in open_episodes.values() for e in batch}
    known |= episode_table.by_ids(
        connection, {e.episode_id for batch in derived.values() for e in batch} - known.keys()
    )
    writes, announce, opened, closed = [], [], 0, 0
    unchanged = len(kept)
    for key in keys:
        old_state, was_present, removed_at, was_alerted_at = stored.get(key, (None, True, None, None))
        old_removed_at = removed_at
        state = new_states.get(key, old_state)
        assert state is not None  # every key comes from new_states or stored
        present = was_present if inventory is None else key in inventory
        if not present:  # removed credentials keep their history but never a streak
            state = state._replace(consecutive_failures=0, failing_since=None)
            removed += was_present
            removed_at = removed_at or now
        else:
            removed_at = None
        if key not in new_states and present == was_present:
            continue
        alerted_at = None
        if key in derived or key in open_episodes:  # most credentials have neither: skip the bookkeeping
            stored_open, beyond = open_episodes.get(key, []), []
            if key in stretch_end:  # open episodes after the stretch are the current one's: left as they are
                beyond = [e for e in stored_open if e.first_failing_window > stretch_end[key]]
                stored_open = [e for e in stored_open if e.first_failing_window <= stretch_end[key]]
            outcome = episode_rules.reconcile(derived.get(key, []), stored_open, known, present, state, now)
            writes += outcome.writes
            announce += outcome.announce
            opened, closed = opened + outcome.opened, closed + outcome.closed
            alerted_at = was_alerted_at if beyond else outcome.alerted_at
            final[key] = state
        if (
            key in stored
            and state == old_state
            and present == was_present
            and removed_at == old_removed_at
            and alerted_at == was_alerted_at
        ):
            unchanged += 1  # a rerun or backfill leaves most credentials as they were: write only what changed
            continue
        rows.append((*key, *state, alerted_at, present, removed_at, now))
    computed = time.perf_counter()
    _upsert(connection, rows)
    episode_table.write(connection, writes)
    sent = write_episode_events(connection, announce, final, threshold=threshold, min_interval=spacing, now=now)
    failing, at_threshold = _counts(connection, threshold)
    return RollupSummary(
        credentials=len(stored.keys() | new_states.keys()),
        folded=len(new_states) + len(kept) - len(recompute),
        recomputed=len(recompute),
        removed=removed,
        reappeared=len(reappeared),
        failing=failing,
        at_threshold=at_threshold,
        late=sum(e.late for batch in events.values() for e in batch),
        episodes_opened=opened,
        episodes_closed=closed,
        failed_events=sent[FAILED],
        recovered_events=sent[RECOVERED],
        compute_seconds=round(computed - began, 3),
        write_seconds=round(time.perf_counter() - computed, 3),
        unchanged=unchanged,
    )


def apply_window(
    connection: Connection,
    window_start: datetime,
    now: datetime,
    inventory: set[Key] | None,
    threshold: int = 3,
    spacing: timedelta = DEFAULT_SPACING,
) -> RollupSummary:
    """Fold one window's scheduled checks into `credential_status`."""
    events: dict[Key, list[Event]] = {}
    for row in checks_table.window_events(connection, window_start):
        events.setdefault((row[0], row[1], row[2]), []).append(Event.from_row(row))
    return apply_events(connection, events, now, inventory, threshold, spacing)


def _serialize(connection: Connection) -> None:
    """One rollup at a time (backfills run windows concurrently): read-fold-write must not interleave.

    Held until the transaction ends; taken before any read, so the state read is the latest committed one.
    """
    serialize(connection, "credential_health.rollup", status_table.c.updated_at)


def _load(connection: Connection) -> dict[Key, tuple[StreakState, bool, datetime | None, datetime | None]]:
    """(state, present_in_inventory, removed_at, alerted_at) of every credential."""
    names = (*KEY_NAMES, *STATE_NAMES, "present_in_inventory", "removed_at", "alerted_at")
    query: Select | TextClause = select(*(status_table.c[n] for n in names))
    if is_postgres(connection):  # untyped: no per-value processing (~1 s at 100k), UTC as typed
        set_local(connection, "timezone", "UTC")
        query = text(f"SELECT {', '.join(names)} FROM {status_table.name}")
    rows = connection.execute(query).all()  # fetchall: fetchone costs ~1 s at 100k
    return {tuple(row[:3]): (StreakState(*row[3:-3]), *row[-3:]) for row in rows}


def _upsert(connection: Connection, rows: list[tuple]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of the WRITTEN columns (tuples in that order)."""
    upsert(connection, status_table, WRITTEN, KEY_NAMES, [n for n in WRITTEN if n not in KEY_NAMES], rows)


def _counts(connection: Connection, threshold: int) -> tuple[int, int]:
    present = status_table.c.present_in_inventory.is_(True)
    failures = status_table.c.consecutive_failures
    query = select(
        func.count().filter(and_(present, failures > 0)),
        func.count().filter(and_(present, failures >= threshold)),
    )
    failing, at_threshold = connection.execute(query).one()
    return failing, at_threshold


# --- reading the status ------------------------------------------------------------------------------


def status_rows(connection: Connection, keys: Iterable[Key] | None = None) -> list[dict]:
    """`credential_status` rows as dicts (all of them, or those of `keys`)."""
    key_columns = [status_table.c[n] for n in KEY_NAMES]
    query = select(status_table).order_by(*key_columns)
    if keys is not None:
        query = query.where(tuple_(*key_columns).in_(sorted(set(keys))))
    return [dict(row._mapping) for row in connection.execute(query)]
