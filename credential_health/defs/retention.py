"""Retention: retention_job deletes checks and delivery-log rows past their retention, weekly by its schedule."""

from datetime import datetime, timedelta, timezone

from dagster import (
    DefaultScheduleStatus,
    OpExecutionContext,
    Output,
    RunRequest,
    ScheduleEvaluationContext,
    in_process_executor,
    job,
    op,
    schedule,
)

from credential_health.resources import ResultsDatabase
from credential_health.storage import results


@op(description="Delete checks and webhook delivery attempts older than their retention settings.")
def delete_expired_rows(context: OpExecutionContext, results_db: ResultsDatabase) -> Output[dict]:
    settings = results_db.settings
    now = datetime.now(timezone.utc)
    checks_cutoff = now - timedelta(days=settings.checks_retention_days)
    log_cutoff = now - timedelta(days=settings.delivery_log_retention_days)
    deleted = {
        "checks_deleted": results.delete_checks_before(results_db.engine, checks_cutoff),
        "delivery_log_deleted": results.delete_delivery_log_before(results_db.engine, log_cutoff),
    }
    context.log.info(f"retention: {deleted}")
    return Output(
        deleted,
        metadata={**deleted, "checks_cutoff": checks_cutoff.isoformat(), "delivery_log_cutoff": log_cutoff.isoformat()},
    )


@job(executor_def=in_process_executor, description="Weekly cleanup of old checks and delivery-log rows.")
def retention_job():
    delete_expired_rows()


@schedule(
    job=retention_job,
    cron_schedule="30 3 * * 0",  # Sundays 03:30 UTC, away from the window boundaries
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Weekly cleanup of checks and delivery-log rows past their retention.",
)
def retention_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"retention-{context.scheduled_execution_time:%Y-%m-%d}")
