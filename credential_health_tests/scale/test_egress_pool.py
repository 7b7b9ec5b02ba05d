"""The Dagster pool of an egress pool (limit 1) keeps two of its shards from spending its budget at once, even
with two Celery workers on its queue."""

from __future__ import annotations

from itertools import pairwise

from dagster import DagsterEventType

from credential_health_tests.scale.conftest import POSTGRES_ONLY

WINDOW = "2026-06-01-00:00"


@POSTGRES_ONLY
def test_shards_of_one_egress_pool_never_overlap(pipeline, cluster_factory):
    for i in range(120):
        pipeline.add(f"tenant-{i:03d}", ("binance", "kraken")[i % 2], latency_ms=100)
    cluster = cluster_factory({**pipeline.env, "CREDENTIAL_HEALTH_CHECK_CONCURRENCY": "4"}, ("a",), 4)
    pool = cluster.pools[0]
    cluster.start_worker(pool, "127.0.0.2", "one")
    cluster.start_worker(pool, "127.0.0.2", "two")  # two workers could take two shards of the pool at once
    run = cluster.execute(WINDOW)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    instance = cluster.instance()
    try:
        starts = {
            e.step_key: e.timestamp
            for e in cluster.step_events(instance, DagsterEventType.STEP_START)
            if "validate_shard" in e.step_key
        }
        ends = {
            e.step_key: e.timestamp
            for e in cluster.step_events(instance, DagsterEventType.STEP_SUCCESS)
            if "validate_shard" in e.step_key
        }
    finally:
        instance.dispose()
    assert len(starts) == 4 and set(ends) == set(starts)
    spans = sorted((starts[key], ends[key]) for key in starts)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans)), spans
