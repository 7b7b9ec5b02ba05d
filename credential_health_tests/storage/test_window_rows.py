"""Batch writes of a window's rows on SQLite and PostgreSQL: replace per credential, refuse one bad row alone."""

from __future__ import annotations

import multiprocessing
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from credential_health.models import CheckResult, CredentialRef, Source, Status
from credential_health.storage import results, window_rows
from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_health_checks as checks

WINDOW = datetime(2026, 9, 1, tzinfo=timezone.utc)


def check(tenant: str, status: Status = Status.VALID, duration_ms: int = 5) -> CheckResult:
    return CheckResult(
        CredentialRef(tenant, "binance", "trading"), status, "ok", None, WINDOW + timedelta(hours=7), duration_ms, 1
    )


def row(result: CheckResult, run_id: str, window: datetime = WINDOW, source: Source = Source.SCHEDULED) -> dict:
    return results.check_row(result, window, window + timedelta(hours=6), source, run_id)


def stored(engine) -> list[tuple]:
    query = select(checks.c.tenant_id, checks.c.window_start, checks.c.source, checks.c.run_id, checks.c.status)
    with engine.connect() as connection:
        return sorted(tuple(r) for r in connection.execute(query))


def test_batches_replace_their_credentials_only_and_drop_absent_ones_at_the_end(database_url):
    engine = make_engine(database_url)
    later = WINDOW + timedelta(hours=6)
    with engine.begin() as connection:
        results.insert_rows(
            connection,
            [
                row(check("a"), "old"),
                row(check("b"), "old"),
                row(check("gone"), "old"),
                row(check("a"), None, source=Source.MANUAL),
                row(check("a"), "old", later),
            ],
        )
    assert window_rows.replace_rows(engine, WINDOW, [row(check("a", Status.INVALID), "new")]) == []
    assert ("a", WINDOW, "scheduled", "new", "invalid") in stored(engine)
    assert ("a", WINDOW, "scheduled", "old", "valid") not in stored(engine)
    assert ("b", WINDOW, "scheduled", "old", "valid") in stored(engine)  # not in the batch: untouched so far
    assert window_rows.drop_absent(engine, WINDOW, {("a", "binance", "trading"), ("b", "binance", "trading")}) == 1
    assert [r for r in stored(engine) if r[0] == "gone"] == []
    assert ("a", WINDOW, "manual", None, "valid") in stored(engine)  # manual rows and other windows are kept
    assert ("a", later, "scheduled", "old", "valid") in stored(engine)
    assert [r["tenant_id"] for r in window_rows.run_rows(engine, WINDOW, "new")] == ["a"]
    engine.dispose()


def test_a_row_the_database_refuses_is_refused_alone(database_url):
    engine = make_engine(database_url)
    batch = [row(check(f"t{i:03d}"), "run") for i in range(150)]  # > 100 rows: PostgreSQL loads them with COPY
    batch[77]["duration_ms"] = 2**40  # out of range for an INTEGER column on PostgreSQL
    refused = window_rows.replace_rows(engine, WINDOW, batch)
    if engine.dialect.name == "postgresql":
        assert [r["tenant_id"] for r in refused] == ["t077"]
        assert len(stored(engine)) == 149
    else:  # SQLite stores any integer
        assert refused == [] and len(stored(engine)) == 150
    engine.dispose()


def test_the_writer_flushes_by_count_and_by_time(database_url):
    engine = make_engine(database_url)
    writer = window_rows.WindowWriter(engine, WINDOW, lambda c: row(c, "run"), batch_rows=3, batch_seconds=0.2)
    writer.add(check("a"))
    writer.add(check("b"))
    assert stored(engine) == []
    writer.add(check("c"))
    assert len(stored(engine)) == 3
    writer.add(check("d"))
    time.sleep(0.25)
    writer.add(check("e"))  # the time since the last write has passed: written without a full batch
    assert len(stored(engine)) == 5
    writer.write([check("a", Status.UNKNOWN)])  # a correction made after the whole window was checked
    assert ("a", WINDOW, "scheduled", "run", "unknown") in stored(engine) and len(stored(engine)) == 5
    assert writer.written == 6 and writer.refused == []
    engine.dispose()


def _write_window(database_url: str, run_id: str, ready) -> None:
    """One writer process: the same 200 credentials, released together with the other writers."""
    engine = make_engine(database_url)
    batch = [row(check(f"t{i:03d}"), run_id) for i in range(200)]
    with engine.connect():
        pass  # connected before the start, so the writes overlap
    ready.wait()
    window_rows.replace_rows(engine, WINDOW, batch)
    engine.dispose()


@pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)
def test_concurrent_writers_of_one_window_leave_one_row_per_credential(database_url):
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(4)
    writers = [context.Process(target=_write_window, args=(database_url, f"run-{n}", ready)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    engine = make_engine(database_url)
    rows = stored(engine)
    engine.dispose()
    assert len(rows) == 200 and len({r[0] for r in rows}) == 200 and len({r[3] for r in rows}) == 1
