"""Episodes through the real pipeline (OpenBao, the simulator through real ccxt, the results database):
a recovery and a new failure between two delivery runs, and backfills that never alert by themselves."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from credential_health.notify.endpoints import add_endpoint
from credential_health.partitions import check_windows, window_for_key
from credential_health.storage.episodes import credential_episodes
from credential_health.storage.schema import webhook_events

WINDOWS = [f"2026-03-0{day}-{hour:02d}:00" for day in (1, 2) for hour in (0, 6, 12, 18)]
KEY = ("acme", "binance", "trading")


def _outbox(pipeline) -> list:
    """The failure episode's events (a key that turns valid is also scope-audited: its scope events are not these)."""
    failure_events = webhook_events.c.event_type.in_(["credential.failed", "credential.recovered"])
    with pipeline.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(webhook_events).where(failure_events).order_by(webhook_events.c.next_attempt_at)
            )
        )


def _rollup_metadata(result) -> dict:
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "credential_failure_rollup"
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_recovery_and_new_failure_between_two_delivery_runs(pipeline):
    """Nothing delivers between window 3 and window 7: both episodes and all three events are still there."""
    pipeline.add("acme", "binance", behaviour="revoked")
    with pipeline.engine.begin() as connection:
        endpoint = add_endpoint(
            connection,
            "acme",
            "https://hooks.example.com/acme",
            ["credential.failed", "credential.recovered"],
            allow_private=False,
            resolver=lambda host, port: ["93.184.216.34"],
        )
    plan = ["revoked", "revoked", "revoked", "valid", "revoked", "revoked", "revoked"]
    opened = []
    for window, behaviour in zip(WINDOWS, plan, strict=False):
        pipeline.rescript("acme", "binance", behaviour)
        result = pipeline.materialize(window)
        assert result.success
        opened.append(_rollup_metadata(result)["episodes_opened"])
    assert opened == [0, 0, 1, 0, 0, 0, 1]

    events = _outbox(pipeline)
    assert [(e.event_type, e.endpoint_id, e.state) for e in events] == [
        ("credential.failed", endpoint, "pending"),
        ("credential.recovered", endpoint, "pending"),
        ("credential.failed", endpoint, "pending"),
    ]
    with pipeline.engine.connect() as connection:
        first, second = credential_episodes(connection, KEY)
    assert (first["first_failing_window"], first["close_reason"], first["windows_failed"]) == (
        window_for_key(WINDOWS[0]).start,
        "recovered",
        3,
    )
    assert (second["first_failing_window"], second["closed_at"], second["alerted"]) == (
        window_for_key(WINDOWS[4]).start,
        None,
        True,
    )
    assert first["episode_id"] in events[1].payload and second["episode_id"] in events[2].payload

    assert pipeline.materialize(WINDOWS[5]).success  # a rerun of an old window announces nothing again
    assert len(_outbox(pipeline)) == 3


def test_backfilling_three_past_windows_of_a_key_revoked_now_sends_nothing(pipeline, monkeypatch):
    monkeypatch.delenv("CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS")  # the default: one window
    pipeline.add("acme", "binance", behaviour="revoked")
    closed = check_windows.get_partition_keys(current_time=datetime.now(timezone.utc))
    for window in closed[-4:-1]:  # each ended more than one window ago: checked now, they are late
        result = pipeline.materialize(window)
        assert result.success
        metadata = _rollup_metadata(result)
        assert (metadata["late"], metadata["episodes_opened"]) == (1, 0)
    rows = pipeline.checks()
    assert [(r["status"], r["late"]) for r in rows] == [("invalid", True)] * 3
    status = pipeline.status()[KEY]
    assert (status["last_status"], status["consecutive_failures"], status["windows_seen"]) == ("invalid", 0, 3)
    assert _outbox(pipeline) == []
    with pipeline.engine.connect() as connection:
        assert credential_episodes(connection, KEY) == []

    assert pipeline.materialize(closed[-1]).success  # the newest closed window is on time: it counts
    assert pipeline.status()[KEY]["consecutive_failures"] == 1
