"""Window order does not matter: reverse backfills and reruns give the same credential_status."""

from __future__ import annotations

from sqlalchemy import delete

from credential_health.rollup import STATE_NAMES
from credential_health.storage.schema import credential_health_checks, credential_status
from credential_health_tests.fixtures.pipeline import replayed_states

WINDOWS = ["2026-04-01-00:00", "2026-04-01-06:00", "2026-04-01-12:00", "2026-04-01-18:00"]
# what each credential's exchange answers in each window
SCRIPT = {
    "a": ["revoked", "revoked", "server_error", "revoked"],
    "b": ["valid", "revoked", "revoked", "valid"],
    "c": ["valid", "valid", "valid", "valid"],
    "d": ["suspended", "rate_limited", "permission_denied", "revoked"],
}
# Columns set from wall-clock times (checked_at of rows, update times) differ between two executions.
WALL_CLOCK = {"last_checked_at", "last_success_at", "updated_at", "removed_at", "alerted_at"}


def _run(pipeline, order: list[int]) -> None:
    for index in order:
        for tenant, plan in SCRIPT.items():
            pipeline.rescript(tenant, "binance", plan[index])
        assert pipeline.materialize(WINDOWS[index]).success


def _comparable(pipeline) -> dict:
    return {k: {c: v for c, v in row.items() if c not in WALL_CLOCK} for k, row in pipeline.status().items()}


def test_reverse_backfill_and_rerun_match_in_order_runs(pipeline):
    for tenant, plan in SCRIPT.items():
        pipeline.add(tenant, "binance", behaviour=plan[0])

    _run(pipeline, [0, 1, 2, 3])
    in_order = _comparable(pipeline)
    assert {k[0]: r["consecutive_failures"] for k, r in in_order.items()} == {"a": 3, "b": 0, "c": 0, "d": 3}

    with pipeline.engine.begin() as connection:
        connection.execute(delete(credential_health_checks))
        connection.execute(delete(credential_status))
    _run(pipeline, [3, 2, 1, 0])
    assert _comparable(pipeline) == in_order
    stored = {k: {c: row[c] for c in STATE_NAMES} for k, row in pipeline.status().items()}
    with pipeline.engine.connect() as connection:
        assert stored == replayed_states(connection)

    _run(pipeline, [1])  # a rerun of one window replaces its rows, changes nothing else
    assert _comparable(pipeline) == in_order
    rows = pipeline.checks()
    assert len(rows) == len(SCRIPT) * len(WINDOWS)
    assert len({(r["tenant_id"], r["window_start"]) for r in rows}) == len(rows)


def test_removed_credentials_lose_their_streak_and_come_back(pipeline):
    pipeline.add("gone", "kraken", behaviour="revoked")
    pipeline.add("stays", "kraken", behaviour="revoked")
    _run_plain = [WINDOWS[0], WINDOWS[1]]
    for window in _run_plain:
        assert pipeline.materialize(window).success
    pipeline.delete("gone", "kraken")

    result = pipeline.materialize(WINDOWS[2])
    assert result.success
    status = pipeline.status()
    gone, stays = status[("gone", "kraken", "trading")], status[("stays", "kraken", "trading")]
    assert (gone["present_in_inventory"], gone["consecutive_failures"], gone["failing_since"]) == (False, 0, None)
    assert gone["removed_at"] is not None and gone["windows_seen"] == 2
    assert (stays["present_in_inventory"], stays["consecutive_failures"]) == (True, 3)
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()}["rollup_consistent"]

    pipeline.add("gone", "kraken", behaviour="revoked")  # back, with a new (also revoked) key
    assert pipeline.materialize(WINDOWS[3]).success
    gone = pipeline.status()[("gone", "kraken", "trading")]
    assert (gone["present_in_inventory"], gone["removed_at"]) == (True, None)
    assert gone["consecutive_failures"] == 3 and gone["windows_seen"] == 3  # its history counts again
