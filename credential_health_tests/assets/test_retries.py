"""Infrastructure retries are cheap and only for what can pass on another try (real PostgreSQL, OpenBao and
the simulator through ccxt; a TCP proxy cuts the database connection mid-run)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, materialize
from sqlalchemy.engine import make_url

from credential_health.assets import ASSETS
from credential_health.checks import CHECKS
from credential_health.partitions import window_for_key
from credential_health.resources import CredentialValidator, ResultsDatabase, default_resources
from credential_health_tests.fixtures.tcp_proxy import TcpProxy

WINDOW = "2026-06-01-00:00"
POSTGRES_ONLY = pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)


def run_window(pipeline, **resources):
    return materialize(
        [*ASSETS, *CHECKS],
        partition_key=WINDOW,
        instance=pipeline.instance,
        raise_on_error=False,
        resources={**default_resources(), **resources},
    )


# The results asset is a graph: the database is reached in its plan step, checks are made in the shard steps
# (one shard by default).
PLAN_STEP = "credential_validation_results.plan_shards"
SHARD_STEP = "credential_validation_results.validate_shard_default[shard_0]"


def step_events(result, event_type: DagsterEventType, step: str = SHARD_STEP) -> list:
    return [e for e in result.all_events if e.event_type == event_type and e.step_key == step]


BALANCE_PATHS = {"/api/v3/account", "/0/private/BalanceEx"}


def exchange_calls(pipeline) -> Counter:
    """Signed balance requests per credential, as the simulator received them."""
    by_key = {credential.api_key: key for key, credential in pipeline.secrets.items()}
    return Counter(
        by_key[r.api_key] for r in pipeline.simulator.requests() if r.api_key in by_key and r.path in BALANCE_PATHS
    )  # not the scope probes after them


def stored_rows(pipeline) -> list[dict]:
    return [r for r in pipeline.checks() if r["window_start"] == window_for_key(WINDOW).start]


@POSTGRES_ONLY
def test_a_database_blip_after_exchange_calls_revalidates_only_what_was_not_stored(pipeline, monkeypatch):
    url = make_url(pipeline.database_url)
    proxy = TcpProxy(url.host, url.port or 5432)
    monkeypatch.setenv(
        "CREDENTIAL_HEALTH_DATABASE_URL",
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
    )
    for i in range(10):  # one check at a time, 250 ms each: the blip lands mid-window
        pipeline.add(f"tenant-{i:02d}", "binance", latency_ms=250)
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            result=run_window(
                pipeline, validator=CredentialValidator(concurrency=1), results_db=ResultsDatabase(batch_rows=2)
            )
        )
    )
    try:
        runner.start()
        deadline = time.monotonic() + 60
        while len(stored_rows(pipeline)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proxy.cut()  # the next batch write fails: its checks were made but are not stored
        before = {(r["tenant_id"], r["checked_at"]) for r in stored_rows(pipeline)}
        time.sleep(2)
        proxy.restore()
        runner.join(120)
    finally:
        proxy.close()
    result = outcome["result"]
    assert result.success
    assert len(step_events(result, DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    [retry] = step_events(result, DagsterEventType.STEP_UP_FOR_RETRY)
    assert "results database unavailable (retried)" in retry.event_specific_data.error.cause.message

    rows = stored_rows(pipeline)
    assert sorted(r["tenant_id"] for r in rows) == [f"tenant-{i:02d}" for i in range(10)]
    assert {r["run_id"] for r in rows} == {result.run_id}
    assert 2 <= len(before) < 10 and before <= {(r["tenant_id"], r["checked_at"]) for r in rows}  # kept as stored
    calls = exchange_calls(pipeline)
    assert all(calls[(tenant, "binance", "trading")] == 1 for tenant, _ in before)  # never asked again
    assert sum(calls.values()) < 2 * 10 and set(calls.values()) <= {1, 2}
    [materialized] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "credential_validation_results"
    ]
    metadata = materialized.materialization.metadata
    assert metadata["total"].value == 10 and metadata["resumed"].value >= len(before)
    assert all(s["windows_seen"] == 1 for s in pipeline.status().values()) and len(pipeline.status()) == 10


@POSTGRES_ONLY
def test_a_deterministic_database_error_is_not_retried(pipeline, monkeypatch):
    role = f"readonly_{secrets.token_hex(4)}"
    admin = sa.create_engine(pipeline.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # may read (and so see the schema is migrated) but never write
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        connection.execute(sa.text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
    monkeypatch.setenv(
        "CREDENTIAL_HEALTH_DATABASE_URL",
        make_url(pipeline.database_url).set(username=role, password=None).render_as_string(hide_password=False),
    )
    for tenant in ("acme", "globex", "initech"):
        pipeline.add(tenant, "binance")
    try:
        result = run_window(pipeline)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
            connection.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()
    assert not result.success
    assert step_events(result, DagsterEventType.STEP_UP_FOR_RETRY) == []  # one pass of exchange calls, not four
    [failure] = step_events(result, DagsterEventType.STEP_FAILURE)
    error = failure.step_failure_data.error
    assert "results database error (not retried" in error.message and "InsufficientPrivilege" in error.message
    assert error.cause is None and error.context is None
    assert set(exchange_calls(pipeline).values()) == {1}
    assert stored_rows(pipeline) == [] and pipeline.status() == {}


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("database_url_setting", "said"),
    [
        # URLs that cannot work are refused with the settings, at the run's first step
        (
            "postgresql+nosuchdriver://nobody@127.0.0.1/none",
            "configuration error: CREDENTIAL_HEALTH_DATABASE_URL names",
        ),
        ("not a database url", "configuration error: CREDENTIAL_HEALTH_DATABASE_URL is not a database URL"),
        ("sqlite:///{tmp}/a-file/results.db", "results database setup failed: FileExistsError"),
    ],
)
def test_a_misconfigured_database_fails_before_any_exchange_call(
    pipeline, monkeypatch, tmp_path, database_url_setting, said
):
    (tmp_path / "a-file").write_text("a file where a folder is expected")
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", database_url_setting.format(tmp=tmp_path))
    pipeline.add("acme", "binance")
    result = run_window(pipeline)
    assert not result.success
    # A URL that cannot work stops the first step (the inventory); a reachable-looking one, the results step.
    step = "credential_inventory" if said.startswith("configuration error") else PLAN_STEP
    assert step_events(result, DagsterEventType.STEP_UP_FOR_RETRY, step) == []
    [failure] = step_events(result, DagsterEventType.STEP_FAILURE, step)
    assert said in failure.step_failure_data.user_failure_data.description  # a Failure, said plainly
    assert exchange_calls(pipeline) == Counter()
