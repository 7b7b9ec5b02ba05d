"""The rollup's recompute after a rerun or backfill of an old window, at scale (PostgreSQL).

Recomputing every credential of the window from its history reads and folds hundreds of thousands of rows. But
a valid check resets the streak, so for a credential with a valid check in a later window the stored state
(when it is in step with the stored history) is still right but for its window count; only episodes between
the valid checks around the window can change, and only where that stretch holds enough failures for one.
Most kept credentials need nothing at all and are left out by the SQL pass itself. Every other credential (no
valid check after the window, state out of step, new, leaving or back in the inventory) is recomputed from its
history as before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from credential_health import episodes as episode_rules
from credential_health.rollup_fold import Event, Key, StreakState
from credential_health.storage import rerun_pg

NO_ROWS = rerun_pg.Stretch(0, None, None, None, False, False)  # no scheduled row (manual checks only)


@dataclass
class Recomputed:
    states: dict[Key, StreakState] = field(default_factory=dict)
    derived: dict[Key, list[episode_rules.Episode]] = field(default_factory=dict)
    # kept credentials: the first valid window from the changed one on; their open episodes after it are untouched
    stretch_end: dict[Key, datetime] = field(default_factory=dict)
    unchanged: set[Key] = field(default_factory=set)  # kept as stored, nothing to write


def recompute(
    connection: Connection,
    keys: set[Key],
    before: datetime,
    stored: Mapping[Key, tuple],
    open_episodes: Mapping[Key, list],
    fresh: Collection[Key],
    threshold: int,
) -> Recomputed:
    """New states and derived episodes of `keys` after window `before` changed (`fresh`: recompute in full)."""
    out = Recomputed()
    fresh = set(fresh) & keys
    bounds = rerun_pg.stretches(connection, before, threshold, sorted(fresh))
    out.unchanged = keys - bounds.keys() - fresh  # left out by the pass: their stored state stands as it is
    wanted: dict[Key, tuple[datetime | None, datetime | None]] = {}
    for key in keys - out.unchanged:
        b = bounds.get(key, NO_ROWS)
        state, present = stored[key][:2] if key in stored else (None, False)
        if (
            state is not None
            and present
            and key not in fresh
            and b.valid_after
            and b.valid_from is not None
            and state.last_event_at is not None
            and state.last_window_start == b.last_ws
        ):
            out.states[key] = state._replace(windows_seen=b.seen)
            out.stretch_end[key] = b.valid_from
            stale_open = any(e.first_failing_window <= b.valid_from for e in open_episodes.get(key, ()))
            if not b.quiet or stale_open:
                wanted[key] = (b.valid_before, b.valid_from)
        else:
            wanted[key] = (b.valid_before, None)  # from the newest valid check before the window to now
    for key, rows in rerun_pg.rows_between(connection, wanted, before):
        b = bounds.get(key, NO_ROWS)
        state, out.derived[key] = episode_rules.track_history(key, map(Event.from_row, rows), threshold)
        if key not in out.stretch_end:
            out.states[key] = state._replace(windows_seen=b.seen, last_window_start=b.last_ws)
    return out
