"""Rollup cost after one new window, at 100k credentials, with 30 and then 120 windows of history.

Targets (the bench exits 1 on a miss): <= 10 s for each window write and each rollup, flat as history grows
(the incremental path is O(credentials)); with --backfill, a rerun of an old window (its write, then its
rollup, which keeps the stored state of every credential a later valid check shields) <= 10 s too. Creates and
drops its own database on a local PostgreSQL (trust auth); --template seeds the history once into a kept
template database and clones it:

    .venv/bin/python bench/rollup_scale.py [--credentials 100000] [--windows 30 120] [--backfill]
    .venv/bin/python bench/rollup_scale.py --windows 120 --backfill --template rollup_history

History rows are generated inside PostgreSQL (generate_series); the new window goes through the same
code as a run: storage.results.replace_window, then rollup.apply_window.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import secrets
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from credential_health import rollup
from credential_health.models import CheckResult, CredentialRef, Status
from credential_health.storage import results
from credential_health.storage.database import make_engine, upgrade

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TARGET_SECONDS = 10.0  # each window write, each rollup, and a rerun/backfill of an old window
H6 = timedelta(hours=6)
CHECK_INDEXES = {
    "ix_checks_manual_window": "INDEX ix_checks_manual_window ON credential_health_checks (window_start) "
    "WHERE source = 'manual'",
    "ix_checks_credential_window": "INDEX ix_checks_credential_window ON credential_health_checks "
    "(tenant_id, exchange, credential_type, window_start)",
    "ix_checks_checked_at": "INDEX ix_checks_checked_at ON credential_health_checks (checked_at)",
    "uq_checks_scheduled_window": "UNIQUE INDEX uq_checks_scheduled_window ON credential_health_checks "
    "(window_start, tenant_id, exchange, credential_type) WHERE source = 'scheduled'",
}
# Deterministic pseudo-random statuses: ~90 % valid, 6 % invalid, 4 % unknown; every 50th credential is
# revoked from some window on, so long streaks exist too.
STATUS_SQL = """
CASE WHEN i % 50 = 0 AND w >= (i / 50) % :span THEN 'invalid'
     WHEN (i * 2654435761 + w * 40503) % 1000 < 900 THEN 'valid'
     WHEN (i * 2654435761 + w * 40503) % 1000 < 960 THEN 'invalid'
     ELSE 'unknown' END"""
KEY_SQL = """'tenant-' || lpad((i / 4)::text, 6, '0'),
       CASE WHEN i % 2 = 0 THEN 'binance' ELSE 'kraken' END,
       CASE WHEN (i / 2) % 2 = 0 THEN 'trading' ELSE 'readonly' END"""


def ref(i: int) -> CredentialRef:
    return CredentialRef(
        f"tenant-{i // 4:06d}", "binance" if i % 2 == 0 else "kraken", "trading" if (i // 2) % 2 == 0 else "readonly"
    )


def generate_history(engine: sa.Engine, credentials: int, first: int, last: int, span: int) -> None:
    """Windows [first, last) for every credential, written by PostgreSQL itself (indexes rebuilt after)."""
    with engine.begin() as connection:
        for name in CHECK_INDEXES:
            connection.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
        connection.execute(
            sa.text(f"""
            INSERT INTO credential_health_checks (tenant_id, exchange, credential_type, window_start, window_end,
                source, checked_at, status, error_code, error_message, duration_ms, attempts, run_id)
            SELECT {KEY_SQL}, :t0 + w * interval '6 hours', :t0 + (w + 1) * interval '6 hours', 'scheduled',
                   :t0 + (w + 1) * interval '6 hours' + interval '2 minutes', st,
                   CASE st WHEN 'valid' THEN 'ok' WHEN 'invalid' THEN 'auth_rejected' ELSE 'timeout' END,
                   CASE st WHEN 'valid' THEN NULL ELSE 'AuthenticationError: binance -2015' END,
                   40 + i % 50, 1, 'bench-history'
            FROM generate_series(:first, :last - 1) AS w, generate_series(0, :n - 1) AS i,
                 LATERAL (SELECT {STATUS_SQL} AS st) AS s
        """),
            {"t0": T0, "first": first, "last": last, "n": credentials, "span": span},
        )
        for definition in CHECK_INDEXES.values():
            connection.execute(sa.text(f"CREATE {definition}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE credential_health_checks"))


def status_from_history(engine: sa.Engine, interval: timedelta) -> None:
    """credential_status as the rollup would have left it, computed in SQL over the whole history."""
    same_key = "c.tenant_id = a.tenant_id AND c.exchange = a.exchange AND c.credential_type = a.credential_type"
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL work_mem = '512MB'"))
        connection.execute(sa.text("DELETE FROM credential_status"))
        connection.execute(
            sa.text("""
            CREATE TEMP TABLE agg ON COMMIT DROP AS
            SELECT tenant_id, exchange, credential_type, count(*) AS seen, max(window_start) AS last_ws,
                   max(window_start) FILTER (WHERE status = 'valid') AS last_valid,
                   max(checked_at) FILTER (WHERE status = 'valid') AS last_success
            FROM credential_health_checks GROUP BY 1, 2, 3
        """)
        )
        connection.execute(sa.text("ANALYZE agg"))  # a temp table has no statistics: without, nested loops
        connection.execute(
            sa.text(f"""
            INSERT INTO credential_status (tenant_id, exchange, credential_type, last_status, last_error_code,
                last_error_message, last_checked_at, last_window_start, last_success_at, consecutive_failures,
                failing_since, windows_seen, last_event_at, present_in_inventory, updated_at)
            SELECT a.tenant_id, a.exchange, a.credential_type, c.status, c.error_code, c.error_message,
                   c.checked_at, a.last_ws, a.last_success, coalesce(s.n, 0), s.since, a.seen,
                   a.last_ws + :interval, true, now()
            FROM agg a
            JOIN credential_health_checks c ON {same_key} AND c.window_start = a.last_ws
            LEFT JOIN (
                SELECT c.tenant_id, c.exchange, c.credential_type, count(*) AS n, min(c.window_start) AS since
                FROM credential_health_checks c JOIN agg a ON {same_key}
                WHERE c.status = 'invalid' AND (a.last_valid IS NULL OR c.window_start > a.last_valid)
                GROUP BY 1, 2, 3
            ) s ON s.tenant_id = a.tenant_id AND s.exchange = a.exchange AND s.credential_type = a.credential_type
        """),
            {"interval": interval},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE credential_status"))


def new_window(credentials: int, index: int) -> list[CheckResult]:
    checked_at = T0 + (index + 1) * H6 + timedelta(minutes=3)
    statuses = (Status.VALID,) * 9 + (Status.INVALID,)
    return [CheckResult(ref(i), statuses[(i + index) % 10], "ok", None, checked_at, 40, 1) for i in range(credentials)]


def measure(engine: sa.Engine, credentials: int, index: int, inventory: set) -> tuple[float, float, object]:
    checks = new_window(credentials, index)
    start = T0 + index * H6
    began = time.perf_counter()
    results.replace_window(engine, start, start + H6, checks, "bench-new-window", H6)
    written = time.perf_counter()
    with engine.begin() as connection:
        summary = rollup.apply_window(connection, start, datetime.now(timezone.utc), inventory)
    return written - began, time.perf_counter() - written, summary


def template_exists(admin: sa.Engine, template: str) -> bool:
    with admin.connect() as connection:
        return (
            connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}).first()
            is not None
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[30, 120])
    parser.add_argument("--admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--backfill", action="store_true", help="also time a rerun of an old window (recompute)")
    parser.add_argument(
        "--template",
        help="seed the history once into a template database of this name prefix "
        "(kept; drop it by hand) and clone it in later runs",
    )
    args = parser.parse_args(argv)

    admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = f"credential_health_bench_{secrets.token_hex(4)}"
    template = f"{args.template}_{args.credentials}x{max(args.windows)}" if args.template else None
    cloned = template is not None and template_exists(admin, template)
    if cloned and len(args.windows) > 1:
        raise SystemExit("--template holds one history size: pass a single --windows value")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if cloned else "")))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    span = max(args.windows)
    inventory = {ref(i).key for i in range(args.credentials)}
    rows, backfill = [], (0.0, 0.0)
    try:
        upgrade(engine)
        have = 0
        for windows in sorted(args.windows):
            began = time.perf_counter()
            if not cloned:
                generate_history(engine, args.credentials, have + (have > 0), windows, span)
            generated = time.perf_counter()
            if not cloned:
                status_from_history(engine, H6)
                if template is not None and windows == span:  # seed once, reuse in later runs
                    engine.dispose()
                    with admin.connect() as connection:
                        connection.execute(sa.text(f'CREATE DATABASE "{template}" TEMPLATE "{name}"'))
            setup = time.perf_counter() - began
            print(
                f"history {windows:>4} windows: generated in {generated - began:.1f} s, "
                f"status in {setup - (generated - began):.1f} s",
                flush=True,
            )
            write_s, rollup_s, summary = measure(engine, args.credentials, windows, inventory)
            have = windows
            rows.append((windows, args.credentials * (windows + 1), setup, write_s, rollup_s, summary))
            print(
                f"history {windows:>4} windows: setup {setup:6.1f} s | write window {write_s:5.2f} s | "
                f"rollup {rollup_s:5.2f} s  (folded {summary.folded}, recomputed {summary.recomputed}, "
                f"episodes opened {summary.episodes_opened}, closed {summary.episodes_closed}; "
                f"compute {summary.compute_seconds} s, write {summary.write_seconds} s)",
                flush=True,
            )
        if args.backfill:  # a rerun of an old window: its rows rewritten, then its rollup
            old = 3
            checks = new_window(args.credentials, old)
            checks = [dataclasses.replace(c, checked_at=datetime.now(timezone.utc)) for c in checks]  # made now: late
            began = time.perf_counter()
            results.replace_window(engine, T0 + old * H6, T0 + (old + 1) * H6, checks, "bench-rerun", H6)
            written = time.perf_counter()
            with engine.begin() as connection:
                summary = rollup.apply_window(connection, T0 + old * H6, datetime.now(timezone.utc), inventory)
            backfill_s = time.perf_counter() - written
            print(
                f"rerun of window {old} of {span}: write {written - began:.2f} s, rollup {backfill_s:.2f} s, "
                f"recomputed {summary.recomputed}, rewritten {summary.recomputed - summary.unchanged} "
                f"(compute {summary.compute_seconds} s, write {summary.write_seconds} s)"
            )
            backfill = (written - began, backfill_s)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print("\n| credentials | history windows | check rows | write window (s) | rollup (s) |")
    print("|---:|---:|---:|---:|---:|")
    for windows, total_rows, _, write_s, rollup_s, _ in rows:
        print(f"| {args.credentials:,} | {windows} | {total_rows:,} | {write_s:.2f} | {rollup_s:.2f} |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    figures = [(f"write of the new window, {r[0]} windows of history", r[3]) for r in rows]
    figures += [(f"rollup of the new window, {r[0]} windows of history", r[4]) for r in rows]
    if args.backfill:
        figures += [
            (f"rerun/backfill of an old window: write, {span} windows", backfill[0]),
            (f"rerun/backfill of an old window: rollup, {span} windows", backfill[1]),
        ]
    missed = 0
    for label, seconds in figures:
        ok = seconds <= TARGET_SECONDS
        missed += not ok
        print(f"{label:<58} {seconds:6.2f} s  target <= {TARGET_SECONDS:g} s  {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
