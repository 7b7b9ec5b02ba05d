"""Streak folding: pure semantics, and order independence of the incremental rollup on both backends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from credential_health.rollup import (
    STATE_NAMES,
    Event,
    StreakState,
    apply_events,
    apply_window,
    fold,
    replay,
    status_rows,
)
from credential_health.storage import results
from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_health_checks, credential_status
from credential_health_tests.fixtures.pipeline import replayed_states

H6 = timedelta(hours=6)
T0 = datetime(2026, 1, 10, tzinfo=timezone.utc)
KEYS = [(f"t{i}", "binance", "trading") for i in range(6)]


def window(n: int, status: str, code: str = "x") -> Event:
    start = T0 + n * H6
    return Event(start + H6, "scheduled", start, start + H6 + timedelta(minutes=1), status, code, None)


def late(n: int, status: str) -> Event:
    start = T0 + n * H6
    return Event(start + H6, "scheduled", start, start + 5 * H6, status, "x", None, True)


def manual(at: datetime, status: str) -> Event:
    return Event(at, "manual", at - timedelta(hours=1), at, status, "x", None)


def streak(events) -> int:
    return replay(events).consecutive_failures


def test_fold_semantics():
    assert streak([window(0, "invalid"), window(1, "invalid"), window(2, "invalid")]) == 3
    assert streak([window(0, "invalid"), window(1, "unknown"), window(2, "invalid"), window(3, "invalid")]) == 3
    assert streak([window(0, "invalid"), window(1, "invalid"), window(2, "valid")]) == 0
    assert streak([window(0, "valid"), window(1, "invalid"), window(2, "invalid")]) == 2
    # manual: a valid resets, an invalid is recorded but does not count
    between = T0 + 2 * H6 + timedelta(hours=3)
    assert streak([window(0, "invalid"), window(1, "invalid"), manual(between, "valid"), window(2, "invalid")]) == 1
    state = replay([window(0, "invalid"), manual(between, "invalid")])
    assert (state.consecutive_failures, state.last_status, state.windows_seen) == (1, "invalid", 1)
    state = replay([window(2, "invalid"), window(0, "valid"), window(1, "invalid"), window(1, "invalid")])
    assert (state.consecutive_failures, state.failing_since, state.windows_seen) == (2, T0 + H6, 3)


def test_fold_keeps_failing_since_and_last_success():
    state = fold(StreakState(), window(0, "valid"))
    assert state.last_success_at == window(0, "valid").checked_at and state.failing_since is None
    state = fold(fold(state, window(1, "invalid")), window(2, "unknown"))
    assert (state.consecutive_failures, state.failing_since, state.last_status) == (1, T0 + H6, "unknown")
    assert state.last_window_start == T0 + 2 * H6 and state.last_event_at == T0 + 3 * H6


def _seed_rows(n_windows: int, rng: random.Random) -> dict[int, list[dict]]:
    rows = {}
    for n in range(n_windows):
        start = T0 + n * H6
        rows[n] = [
            {
                "tenant_id": k[0],
                "exchange": k[1],
                "credential_type": k[2],
                "window_start": start,
                "window_end": start + H6,
                "source": "scheduled",
                "late": False,
                "checked_at": start + H6,
                "status": rng.choice(["valid", "invalid", "invalid", "unknown"]),
                "error_code": "x",
                "error_message": None,
                "duration_ms": 1,
                "attempts": 1,
                "run_id": None,
            }
            for k in KEYS
        ]
    return rows


def _stored(engine) -> dict:
    with engine.connect() as connection:
        return {
            (r["tenant_id"], r["exchange"], r["credential_type"]): {n: r[n] for n in STATE_NAMES}
            for r in connection.execute(select(credential_status)).mappings()
        }


def _rollup_in_order(engine, rows_by_window, order, manual_rows, now):
    inventory = set(KEYS)
    for n in order:
        with engine.begin() as connection:
            connection.execute(
                credential_health_checks.delete().where(
                    credential_health_checks.c.window_start == T0 + n * H6,
                    credential_health_checks.c.source == "scheduled",
                )
            )
            results.insert_rows(connection, rows_by_window[n])
            apply_window(connection, T0 + n * H6, now, inventory)
        for row in manual_rows.pop(n, []):  # manual checks made while this window was the newest
            event = Event(row["checked_at"], "manual", row["window_start"], row["checked_at"], row["status"], "x", None)
            with engine.begin() as connection:
                results.insert_rows(connection, [row])
                apply_events(connection, {(row["tenant_id"], row["exchange"], row["credential_type"]): [event]}, now)


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_any_window_order_gives_the_state_of_a_full_replay(database_url, seed):
    engine = make_engine(database_url)
    rng = random.Random(seed)
    rows = _seed_rows(8, rng)
    manual = {}
    for _ in range(5):  # manual checks inside windows 1..7, of any outcome, for random credentials
        n = rng.randrange(1, 8)
        key = rng.choice(KEYS)
        at = T0 + n * H6 + timedelta(minutes=rng.randrange(1, 359))
        manual.setdefault(n - 1, []).append(
            {
                **rows[n][KEYS.index(key)],
                "source": "manual",
                "checked_at": at,
                "status": rng.choice(["valid", "invalid", "unknown"]),
            }
        )
    now = datetime.now(timezone.utc)
    orders = [list(range(8)), list(reversed(range(8))), rng.sample(range(8), 8), [0, 1, 2, 3, 3, 4, 5, 6, 7, 2]]
    outcomes = []
    for order in orders:
        with engine.begin() as connection:
            connection.execute(credential_health_checks.delete())
            connection.execute(credential_status.delete())
        _rollup_in_order(engine, rows, order, {n: list(v) for n, v in manual.items()}, now)
        outcomes.append(_stored(engine))
        with engine.connect() as connection:
            assert outcomes[-1] == replayed_states(connection)
    # in order, manual checks land right after their window; in other orders they land elsewhere in run
    # order, yet the state is the same: only order keys count
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert outcomes[0][KEYS[0]]["windows_seen"] == 8
    engine.dispose()


def test_alerted_at_follows_the_open_announced_episode(database_url):
    """The rollup owns alerted_at: set when it announces an episode, kept while it stays open, cleared on removal."""
    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    invalid = [r | {"status": "invalid"} for r in _seed_rows(1, random.Random(1))[0]]
    for n in range(3):
        start = T0 + n * H6
        with engine.begin() as connection:
            results.insert_rows(
                connection,
                [r | {"window_start": start, "window_end": start + H6, "checked_at": start + H6} for r in invalid],
            )
            apply_window(connection, start, now, set(KEYS))
    with engine.begin() as connection:
        opened = T0 + 3 * H6  # checked_at of the check that reached the threshold
        assert all(row["alerted_at"] == opened for row in status_rows(connection))
        later = now + timedelta(minutes=5)
        apply_window(connection, T0 + H6, later, set(KEYS[1:]))  # a rerun; KEYS[0] left the inventory
        rows = {(r["tenant_id"], r["exchange"], r["credential_type"]): r for r in status_rows(connection)}
    gone, kept = rows[KEYS[0]], rows[KEYS[1]]
    assert (gone["alerted_at"], gone["present_in_inventory"], gone["consecutive_failures"]) == (None, False, 0)
    assert gone["failing_since"] is None and gone["removed_at"] == later
    assert (kept["alerted_at"], kept["consecutive_failures"], kept["failing_since"]) == (opened, 3, T0)
    engine.dispose()


def test_fold_late_checks():
    """A late invalid is shown but never counts; a late valid is evidence the key works now."""
    state = replay([window(0, "invalid"), window(1, "invalid"), late(2, "invalid")])
    assert (state.consecutive_failures, state.last_status, state.windows_seen) == (2, "invalid", 3)
    assert streak([late(0, "invalid"), late(1, "invalid"), late(2, "invalid")]) == 0
    assert streak([window(0, "invalid"), window(1, "invalid"), late(2, "valid"), window(3, "invalid")]) == 1


def test_concurrent_rollups_of_different_windows_lose_nothing(database_url):
    """Backfills run windows side by side: the rollups serialise, and the result is the full replay."""
    from concurrent.futures import ThreadPoolExecutor

    engine = make_engine(database_url)
    rows = _seed_rows(6, random.Random(3))
    with engine.begin() as connection:
        for n in rows:
            results.insert_rows(connection, rows[n])
    now = datetime.now(timezone.utc)

    def roll(n: int) -> None:
        with engine.begin() as connection:
            apply_window(connection, T0 + n * H6, now, set(KEYS))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(roll, [5, 0, 3, 1, 4, 2]))
    with engine.connect() as connection:
        assert _stored(engine) == replayed_states(connection)
    engine.dispose()


def test_changing_the_interval_never_reorders_history(database_url, monkeypatch):
    """Order keys are the stored window ends: 6-hour rows keep their place after a switch to 12-hour windows."""
    engine = make_engine(database_url)
    key = KEYS[0]
    base = {
        "tenant_id": key[0],
        "exchange": key[1],
        "credential_type": key[2],
        "error_code": "x",
        "error_message": None,
        "duration_ms": 1,
        "attempts": 1,
        "run_id": None,
        "late": False,
    }
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:  # two 6-hour windows, then a manual valid 2 hours after the second ended
        for n in range(2):
            start = T0 + n * H6
            results.insert_rows(
                connection,
                [
                    base
                    | {
                        "window_start": start,
                        "window_end": start + H6,
                        "source": "scheduled",
                        "checked_at": start + H6,
                        "status": "invalid",
                    }
                ],
            )
            apply_window(connection, start, now, {key})
        at = T0 + 2 * H6 + timedelta(hours=2)
        results.insert_rows(
            connection,
            [
                base
                | {
                    "window_start": T0 + 2 * H6,
                    "window_end": T0 + 3 * H6,
                    "source": "manual",
                    "checked_at": at,
                    "status": "valid",
                }
            ],
        )
        apply_events(connection, {key: [Event(at, "manual", T0 + 2 * H6, at, "valid", "x", None)]}, now)
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "12")  # windows are 12 hours from now on
    start = T0 + 4 * H6  # the next (12-hour) window
    with engine.begin() as connection:
        results.insert_rows(
            connection,
            [base | {"window_start": start, "source": "scheduled", "checked_at": start + 2 * H6, "status": "invalid"}],
        )
        apply_window(connection, start, now, {key})
        apply_window(connection, T0 + H6, now, {key})  # a rerun of an old window recomputes from history
        [row] = status_rows(connection, [key])
        ends = sorted(r.window_end for r in connection.execute(select(credential_health_checks.c.window_end)))
    # the manual valid (at +2 h after the second 6-hour window) still sits between the two failures: streak 1
    assert (row["consecutive_failures"], row["failing_since"]) == (1, start)
    assert ends == [T0 + H6, T0 + 2 * H6, T0 + 3 * H6, start + 2 * H6]  # the new row's end: its 12-hour window
    with engine.connect() as connection:
        assert _stored(engine)[key] == replayed_states(connection)[key]
    engine.dispose()
