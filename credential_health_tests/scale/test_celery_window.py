"""Real Celery workers, each on its own loopback egress address, store the same window as the in-process run."""

from __future__ import annotations

from collections import Counter

from dagster import DagsterEventType
from sqlalchemy import select

from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_health_checks, credential_status
from credential_health_tests.fixtures.services import throwaway_database
from credential_health_tests.scale.conftest import POSTGRES_ONLY, seed

WINDOW = "2026-06-01-00:00"
ROW = ("tenant_id", "exchange", "credential_type", "status", "error_code", "error_message", "source", "late")
STATUS = (
    "tenant_id",
    "exchange",
    "credential_type",
    "last_status",
    "last_error_code",
    "consecutive_failures",
    "windows_seen",
    "present_in_inventory",
)


def stored(url: str) -> tuple[list[tuple], list[tuple]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = sorted(tuple(r) for r in connection.execute(select(*(credential_health_checks.c[c] for c in ROW))))
        status = sorted(tuple(r) for r in connection.execute(select(*(credential_status.c[c] for c in STATUS))))
    engine.dispose()
    return rows, status


@POSTGRES_ONLY
def test_two_workers_on_two_egress_addresses_store_what_in_process_stores(pipeline, cluster_factory, tmp_path):
    seed(pipeline, 2000)
    in_process = pipeline.materialize(WINDOW)
    assert in_process.success
    expected_rows, expected_status = stored(pipeline.database_url)
    assert len(expected_rows) == 2000 and {r[3] for r in expected_rows} == {"valid", "invalid", "unknown"}

    celery_db, drop = throwaway_database(
        "ch_dagster"
    )  # the same window, on the same Vault and simulator, stored afresh
    try:
        cluster = cluster_factory({**pipeline.env, "CREDENTIAL_HEALTH_DATABASE_URL": celery_db}, ("a", "b"), 4)
        cluster.start_worker(cluster.pools[0], "127.0.0.2", "a")
        cluster.start_worker(cluster.pools[1], "127.0.0.3", "b")
        run = cluster.execute(WINDOW)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        rows, status = stored(celery_db)
    finally:
        drop()
    assert rows == expected_rows
    assert status == expected_status

    instance = cluster.instance()
    try:
        started = cluster.step_events(instance, DagsterEventType.STEP_SUCCESS)
        shard_steps = Counter(e.step_key.split("[")[0] for e in started if "validate_shard" in (e.step_key or ""))
        # Four shards dealt to two pools, each pool's steps run by its own worker (queue).
        assert sum(shard_steps.values()) == 4 and len(shard_steps) == 2
        workers = {
            e.step_key: e.dagster_event.engine_event_data.metadata["Celery worker"].value
            for e in cluster.step_events(instance, DagsterEventType.ENGINE_EVENT)
            if e.step_key
            and "validate_shard" in e.step_key
            and e.dagster_event.engine_event_data
            and "Celery worker" in e.dagster_event.engine_event_data.metadata
        }
        by_pool = {pool: {w for key, w in workers.items() if pool.replace("-", "_") in key} for pool in cluster.pools}
        assert all(len(names) == 1 for names in by_pool.values())
        assert by_pool[cluster.pools[0]] != by_pool[cluster.pools[1]]
    finally:
        instance.dispose()
