"""Fixtures of the fan-out tests: a 2,000-credential window and a Celery deployment around the pipeline."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from credential_health_tests.scale.cluster import make_cluster

# Mostly healthy keys; the rest end invalid (three exchange rejections) or unknown (a server error).
MIX = ["valid"] * 6 + ["revoked", "permission_denied", "suspended", "server_error"]
POSTGRES_ONLY = pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)


def seed(pipeline, count: int) -> None:
    """`count` credentials over Binance and Kraken, in the simulator and in Vault."""

    def add(i: int) -> None:
        pipeline.add(f"tenant-{i // 2:05d}", ("binance", "kraken")[i % 2], behaviour=MIX[i % len(MIX)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(count)))


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(base_env: dict, pools: tuple[str, ...], shards: int):
        cluster = make_cluster(tmp_path / f"c{len(made)}", base_env, pools, shards)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
        cluster.drop_database()
