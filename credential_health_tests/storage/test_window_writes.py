"""The window write: one row per credential per window, the newest observations win, late checks flagged;
two real processes writing one window at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from credential_health.models import CheckResult, CredentialRef, Status
from credential_health.storage import results
from credential_health.storage.database import make_engine

H6 = timedelta(hours=6)
W = datetime(2026, 6, 1, 6, tzinfo=timezone.utc)
CREDENTIALS = 3000

WRITER = """
import json, sys, time
from datetime import datetime, timedelta
from credential_health.models import CheckResult, CredentialRef, Status
from credential_health.storage import results
from credential_health.storage.database import make_engine

url, window, offset_minutes, run_id, start_at, count = json.loads(sys.argv[1])
window = datetime.fromisoformat(window)
checked_at = window + timedelta(hours=6, minutes=offset_minutes)
checks = [CheckResult(CredentialRef(f"t{i:05d}", "binance", "trading"), Status.INVALID, "auth_rejected", None,
                      checked_at, 1, 1) for i in range(count)]
engine = make_engine(url)
with engine.connect():  # connect before the start line, so both writers begin together
    pass
time.sleep(max(0.0, start_at - time.time()))
print(results.replace_window(engine, window, window + timedelta(hours=6), checks, run_id, timedelta(hours=6)))
"""


def checks(n: int, checked_at: datetime, status: Status = Status.INVALID) -> list[CheckResult]:
    return [
        CheckResult(CredentialRef(f"t{i:05d}", "binance", "trading"), status, "x", None, checked_at, 1, 1)
        for i in range(n)
    ]


def stored(engine) -> list:
    table = results.checks
    query = sa.select(table.c.tenant_id, table.c.run_id, table.c.late, table.c.window_end, table.c.source)
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(table.c.tenant_id, table.c.id)))


def test_rerun_replaces_stale_write_is_dropped_late_is_flagged(database_url):
    engine = make_engine(database_url)
    end = W + H6
    assert results.replace_window(engine, W, end, checks(3, end + timedelta(minutes=1)), "first", H6) == 3
    assert results.replace_window(engine, W, end, checks(2, end + timedelta(minutes=9)), "rerun", H6) == 2
    assert [(r.tenant_id, r.run_id) for r in stored(engine)] == [("t00000", "rerun"), ("t00001", "rerun")]
    # a slow run that started before the rerun finishes after it: its older observations are dropped
    assert results.replace_window(engine, W, end, checks(3, end + timedelta(minutes=5)), "slow", H6) == 0
    assert {r.run_id for r in stored(engine)} == {"rerun"}
    # checked more than one interval after the window ended: a backfill, flagged late
    assert results.replace_window(engine, W, end, checks(2, end + H6 + timedelta(seconds=1)), "backfill", H6) == 2
    assert [(r.run_id, r.late, r.window_end) for r in stored(engine)] == [("backfill", True, end)] * 2
    engine.dispose()


def _race(database_url: str, newer_first: bool) -> list[subprocess.CompletedProcess]:
    start_at = time.time() + 4  # both processes import, connect, then wait for this instant
    runs = [("older", 1), ("newer", 2)]
    if newer_first:
        runs.reverse()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                json.dumps([database_url, W.isoformat(), offset, run_id, start_at, CREDENTIALS]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id, offset in runs
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(120), *p.communicate()) for p in processes]


@pytest.mark.slow  # starts processes
def test_two_processes_writing_one_window_leave_one_row_per_credential(database_url):
    engine = make_engine(database_url)
    for newer_first in (False, True):
        finished = _race(database_url, newer_first)
        assert [f.returncode for f in finished] == [0, 0], [f.stderr[-2000:] for f in finished]
        rows = stored(engine)
        assert len(rows) == CREDENTIALS and len({r.tenant_id for r in rows}) == CREDENTIALS
        assert {r.run_id for r in rows} == {"newer"}  # whichever committed last, the newest observations stay
        written = sorted(int(f.stdout.strip()) for f in finished)
        assert written[-1] == CREDENTIALS  # the newer write always lands; the older lands first or not at all
    engine.dispose()
