"""Failure episodes: derived from a credential's checks in window order, then reconciled with the stored ones.

An episode opens when a streak reaches the alert threshold and closes at the next valid check (scheduled,
late or manual). Its id comes from the credential and the first failing window, so the same history always
yields the same ids: a rerun or a backfill finds the episode it already recorded and announces nothing twice.
What is announced: `credential.failed` for an episode that is open when the rollup learns of it, and
`credential.recovered` when an announced episode closes with a valid check. An episode that history shows
already closed when first seen (a backfill) is recorded with `alerted = false` and never announced; one whose
credential left the inventory closes as `removed`, without an event (nothing is known about the key any more).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from credential_health.models import CloseReason, EventType
from credential_health.rollup_fold import INVALID, VALID, Event, Key, StreakState, fold, ordered


def episode_id(key: Key, first_failing_window: datetime) -> str:
    """Stable id of the episode whose streak began in `first_failing_window` (the migration has a frozen copy)."""
    text = "\x1f".join((*key, first_failing_window.isoformat()))
    return "ep_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


@dataclass
class Episode:
    """One row of credential_failure_episodes (as derived, or as stored)."""

    episode_id: str
    key: Key
    first_failing_window: datetime
    opened_at: datetime | None  # None: open before the events folded here (stored already, or unknown)
    windows_failed: int
    last_error_code: str | None
    closed_at: datetime | None = None
    close_reason: str | None = None
    alerted: bool = False

    def row(self) -> tuple:
        """Values in storage.episodes.COLUMNS order."""
        return (
            self.episode_id,
            *self.key,
            self.opened_at,
            self.first_failing_window,
            self.closed_at,
            self.close_reason,
            self.windows_failed,
            self.last_error_code,
            self.alerted,
        )


def track(key: Key, state: StreakState, events: Iterable[Event], threshold: int) -> tuple[StreakState, list[Episode]]:
    """Fold `events` (in order-key order, after `state`) and the episodes they open, extend or close."""
    current = None
    if state.consecutive_failures >= threshold and state.failing_since is not None:
        current = Episode(
            episode_id(key, state.failing_since),
            key,
            state.failing_since,
            None,
            state.consecutive_failures,
            state.last_error_code,
        )
    episodes = [current] if current else []
    for event in events:
        state = fold(state, event)
        if state.consecutive_failures >= threshold:
            assert state.failing_since is not None  # fold sets it with the first failure of a streak
            identity = episode_id(key, state.failing_since)
            if current is None or current.episode_id != identity:
                current = Episode(identity, key, state.failing_since, event.checked_at, 0, None)
                episodes.append(current)
            current.windows_failed = state.consecutive_failures
            if event.status == INVALID:
                current.last_error_code = event.error_code
        elif current is not None and event.status == VALID:
            current.closed_at, current.close_reason, current = event.checked_at, CloseReason.RECOVERED, None
    return state, episodes


def track_history(key: Key, events: Iterable[Event], threshold: int) -> tuple[StreakState, list[Episode]]:
    """`track` from an empty state over unordered history (duplicate scheduled rows count once)."""
    return track(key, StreakState(), ordered(events), threshold)


@dataclass
class Reconciled:
    writes: list[Episode]  # rows to upsert (new or changed)
    announce: list[tuple[EventType, Episode]]  # outbox events to write, in order
    alerted_at: datetime | None  # opened_at of the credential's open, announced episode
    opened: int = 0  # episodes first seen open
    closed: int = 0  # stored open episodes closed now


def reconcile(
    derived: list[Episode],
    stored_open: list[Episode],
    known: Mapping[str, Episode],
    present: bool,
    state: StreakState,
    now: datetime,
) -> Reconciled:
    """What to write for one credential: `derived` from its history, `stored_open` its open rows, `known` any
    stored row by id (closed ones included), `state` its status after the rollup.

    A stored open episode that a newly derived one spans (an older window filled in later moved the first
    failing window back) is the same episode under a new id: the new row inherits its opening and its
    announcement, and the old row closes as `revised`, so nothing is announced twice.
    """
    writes, announce, opened, closed = [], [], 0, 0
    if not present:
        derived = []
    derived_ids = {d.episode_id for d in derived}
    orphans = [old for old in stored_open if old.episode_id not in derived_ids]
    absorbed: dict[str, Episode] = {}
    open_alerted = None
    for new in derived:
        old = known.get(new.episode_id)
        if old is None:
            ancestor = next((o for o in orphans if o.episode_id not in absorbed and _spans(new, o)), None)
            if ancestor is not None:
                absorbed[ancestor.episode_id] = new
                new = replace(new, opened_at=ancestor.opened_at, alerted=ancestor.alerted)
                if new.closed_at is not None and ancestor.alerted:
                    announce.append((EventType.RECOVERED, new))
            else:  # first seen: announced only if still open
                new = replace(new, opened_at=new.opened_at or now, alerted=new.closed_at is None)
                opened += new.alerted
                if new.alerted:
                    announce.append((EventType.FAILED, new))
        else:
            new = replace(new, opened_at=old.opened_at, alerted=old.alerted)
            closed += old.closed_at is None and new.closed_at is not None
            if old.closed_at is None and new.closed_at is not None and old.alerted:
                announce.append((EventType.RECOVERED, new))
        if new.row() != (old.row() if old else None):
            writes.append(new)
        if new.closed_at is None and new.alerted:
            open_alerted = new.opened_at
    for old in orphans:  # open rows history no longer supports (or whose credential left)
        if old.episode_id in absorbed:
            reason, closed_at = CloseReason.REVISED, now
        elif not present:
            reason, closed_at = CloseReason.REMOVED, now
        elif state.last_success_at is not None and state.last_success_at >= old.first_failing_window:
            reason, closed_at = CloseReason.RECOVERED, state.last_success_at
        else:
            reason, closed_at = CloseReason.REVISED, now
        writes.append(replace(old, closed_at=closed_at, close_reason=reason))
        closed += old.episode_id not in absorbed
        if reason == CloseReason.RECOVERED and old.alerted:
            announce.insert(0, (EventType.RECOVERED, writes[-1]))  # older news first
    return Reconciled(writes, announce, open_alerted, opened, closed)


def _spans(new: Episode, old: Episode) -> bool:
    """Whether `new` covers the start of `old` (same streak, seen from more history)."""
    return new.first_failing_window <= old.first_failing_window and (
        new.closed_at is None or new.closed_at > old.first_failing_window
    )
