"""webhook_delivery_sensor against a real Dagster instance and both result databases; one delivery run at a time."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, build_sensor_context, instance_for_test

from credential_health.defs.notify import DELIVERY_TAG, notify_tenants_job, webhook_delivery_sensor
from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.outbox import event_rows
from credential_health.resources import ResultsDatabase
from credential_health.storage.database import make_engine
from credential_health.storage.schema import webhook_events

ROOT = Path(__file__).resolve().parents[2]


def tick(instance):
    with build_sensor_context(instance=instance, resources={"results_db": ResultsDatabase()}) as context:
        return webhook_delivery_sensor.evaluate_tick(context)


@pytest.mark.slow  # a Dagster instance
def test_requests_one_delivery_run_while_events_are_due(database_url, monkeypatch):
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", database_url)
    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection, "acme", "http://127.0.0.1:9/acme", ["credential.failed"], allow_private=True
        )
        connection.execute(
            webhook_events.insert(),
            event_rows("credential.failed", "e1", None, "acme", 3, now, now + timedelta(hours=1), [endpoint_id]),
        )
    with instance_for_test() as instance:
        assert tick(instance).skip_message == "no webhook event is due"  # held for its slot

        with engine.begin() as connection:
            connection.execute(webhook_events.update().values(next_attempt_at=now - timedelta(seconds=1)))
        (request,) = tick(instance).run_requests
        assert request.run_key == "delivery:after:none"
        assert [r.run_key for r in tick(instance).run_requests] == [request.run_key]  # a repeated tick: same key

        with engine.begin() as connection:  # a live worker holds it: not due for anyone else
            connection.execute(
                webhook_events.update().values(lease_owner="w1", lease_expires_at=now + timedelta(minutes=1))
            )
        assert tick(instance).skip_message == "no webhook event is due"
        with engine.begin() as connection:  # that worker died: its lease expired
            connection.execute(webhook_events.update().values(lease_expires_at=now - timedelta(seconds=1)))
        assert len(tick(instance).run_requests) == 1

        run = instance.create_run_for_job(notify_tenants_job, tags=notify_tenants_job.tags)
        assert "queued or in progress" in tick(instance).skip_message
        instance.report_run_canceled(run)
        (request,) = tick(instance).run_requests
        assert request.run_key == f"delivery:after:{run.run_id}"  # a new run only after the last one ended
    engine.dispose()


@pytest.mark.slow  # a Dagster instance
def test_the_instance_runs_one_delivery_run_at_a_time(tmp_path):
    assert notify_tenants_job.tags[DELIVERY_TAG] == "true"
    for config in (ROOT / "dagster.yaml", ROOT / "deploy" / "embedded" / "dagster.yaml"):
        loaded = yaml.safe_load(config.read_text())
        # The production instance keeps its run limits in its `concurrency` block, beside the egress pools.
        runs = loaded["concurrency"]["runs"] if "concurrency" in loaded else loaded["run_coordinator"]["config"]
        limits = runs["tag_concurrency_limits"]
        assert {"key": DELIVERY_TAG, "limit": 1} in limits, config
    shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:  # the embedded instance loads with the limit in its run coordinator
        assert {
            "key": DELIVERY_TAG,
            "limit": 1,
        } in instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
    finally:
        instance.dispose()
