"""Webhook delivery in Dagster: notify_tenants_job (one delivery run over the outbox) and the sensors launching it,
after each rollup (the fast path) and whenever the outbox holds a due event (retries, held slots, a killed worker's
expired lease)."""

from datetime import datetime, timezone

import sqlalchemy as sa
from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogEntry,
    OpExecutionContext,
    Output,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
    in_process_executor,
    job,
    op,
    sensor,
)

from credential_health.metrics import push_if_configured
from credential_health.notify.leases import due_count
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.resources import ResultsDatabase
from credential_health.storage.database import make_engine, upgrade

# Runs carrying this tag are limited to one at a time by the instance's run coordinator (dagster.yaml).
DELIVERY_TAG = "credential_health/delivery"

ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
_engines: dict[str, sa.Engine] = {}


@op(description="Claim due outbox events with a lease and deliver them as signed webhooks.")
def notify_tenants_op(context: OpExecutionContext, results_db: ResultsDatabase) -> Output[dict]:
    settings = results_db.settings
    report = dispatch(
        settings,
        results_db.engine,
        WebhookSecretStore.from_settings(settings),
        run_id=context.run_id,
        audit=context.log,
    )
    push_if_configured(settings, results_db.engine, grouping={"job": "notify_tenants_job"})
    summary = {
        "delivered": report.delivered,
        "rejected": report.failed,
        "still_pending": report.deferred,
        "superseded": report.superseded,
        "lost_leases": report.lost_leases,
        "disabled_endpoints": len(report.disabled_endpoints),
    }
    return Output(summary, metadata=summary)


@job(
    executor_def=in_process_executor,
    tags={DELIVERY_TAG: "true"},
    description="Deliver due webhooks from the outbox (one delivery run at a time per instance).",
)
def notify_tenants_job():
    notify_tenants_op()


@asset_sensor(
    asset_key=AssetKey("credential_failure_rollup"),
    job=notify_tenants_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches notify_tenants_job after each credential_failure_rollup materialisation.",
)
def credential_failure_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
    # The run key names the materialisation itself (its run and partition), so a duplicate or
    # replayed tick asks for the same run and Dagster launches it only once.
    partition = asset_event.dagster_event.partition if asset_event.dagster_event else None
    run_key = f"rollup:{asset_event.run_id}:{partition or 'unpartitioned'}"
    return RunRequest(run_key=run_key, tags={"credential_health/trigger": run_key})


def _results_engine(url: str) -> sa.Engine:
    """One engine per results database for the sensor's process (ticks come every few seconds)."""
    if url not in _engines:
        engine = make_engine(url)
        upgrade(engine)
        _engines[url] = engine
    return _engines[url]


@sensor(
    job=notify_tenants_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches notify_tenants_job when a webhook event is due and no delivery run is queued or running.",
)
def webhook_delivery_sensor(context: SensorEvaluationContext, results_db: ResultsDatabase):
    job = notify_tenants_job.name
    active = context.instance.get_run_records(RunsFilter(job_name=job, statuses=ACTIVE), limit=1)
    if active:
        return SkipReason(f"delivery run {active[0].dagster_run.run_id} is queued or in progress")
    with _results_engine(results_db.url).connect() as connection:
        due = due_count(connection, datetime.now(timezone.utc))
    if not due:
        return SkipReason("no webhook event is due")
    # One run per finished delivery run while events are due: a repeated tick asks for the same key.
    latest = context.instance.get_run_records(RunsFilter(job_name=job), limit=1)
    run_key = f"delivery:after:{latest[0].dagster_run.run_id if latest else 'none'}"
    context.log.info(f"{due} webhook event(s) due: requesting {run_key}")
    return RunRequest(run_key=run_key, tags={"credential_health/trigger": run_key})
