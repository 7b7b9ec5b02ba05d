"""The PostgreSQL rerun pass reads exactly what the generic history pass reads, near and far stretches alike."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from credential_health.models import CheckResult, CredentialRef, Source, Status
from credential_health.storage import history_pg, results
from credential_health.storage.database import make_engine

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
H6 = timedelta(hours=6)
WINDOWS = 40


def seed(engine, credentials: int) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(credentials):
        ref = CredentialRef(f"tenant-{i:03d}", "binance" if i % 2 else "kraken", "trading")
        revoked_from = rng.randrange(WINDOWS) if i % 5 == 0 else WINDOWS  # long failing stretches: "far"
        for w in range(WINDOWS):
            if i % 7 == 0 and w % 9 == 4:
                continue  # windows this credential was not in
            status = Status.INVALID if w >= revoked_from else rng.choice([Status.VALID] * 6 + [Status.INVALID,
                                                                                                Status.UNKNOWN])
            check = CheckResult(ref, status, "ok", None, T0 + (w + 1) * H6 + timedelta(minutes=2), 40, 1)
            rows.append(results.check_row(check, T0 + w * H6, T0 + (w + 1) * H6, Source.SCHEDULED, "seed"))
            if i % 3 == 0 and w % 11 == 2:  # a manual check made inside the window
                manual = CheckResult(ref, Status.VALID, "ok", None, T0 + w * H6 + timedelta(hours=1), 40, 1)
                rows.append(results.check_row(manual, T0 + w * H6, T0 + (w + 1) * H6, Source.MANUAL, "manual"))
    with engine.begin() as connection:
        results.insert_rows(connection, rows)


def tails(engine, keys, before) -> dict:
    with engine.begin() as connection:
        return {key: (seen, last_ws, sorted(rows, key=repr))
                for key, seen, last_ws, rows in results.history_tails(connection, keys, before)}


@pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("rerun_window", [3, 20, 38])
def test_rerun_pass_equals_the_generic_pass(database_url, monkeypatch, rerun_window):
    engine = make_engine(database_url)
    seed(engine, 60)
    keys = {(f"tenant-{i:03d}", "binance" if i % 2 else "kraken", "trading") for i in range(60)}
    before = T0 + rerun_window * H6
    monkeypatch.setattr(results, "FULL_SCAN_KEYS", 10_000)
    generic = tails(engine, keys, before)
    monkeypatch.setattr(results, "FULL_SCAN_KEYS", 10)
    monkeypatch.setattr(history_pg, "NEAR", timedelta(hours=30))  # some stretches near, some far
    fast = tails(engine, keys, before)
    assert fast.keys() == generic.keys() == keys
    for key in keys:
        assert fast[key] == generic[key], key
    # the episode ids hash these timestamps' text: the same zone as the generic pass's
    assert all(r[3].isoformat().endswith("+00:00") for _, _, rows in fast.values() for r in rows)
    engine.dispose()
