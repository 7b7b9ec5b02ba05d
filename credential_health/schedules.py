"""Schedules: every window as it closes, and the weekly retention cleanup."""


from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    build_schedule_from_partitioned_job,
    schedule,
)

from credential_health.jobs import credential_health_job, retention_job

# One run per window as it closes; the partition key is the run key, so a tick never launches a window twice.
credential_health_schedule = build_schedule_from_partitioned_job(
    credential_health_job,
    name="credential_health_schedule",
    description="Validate every credential once per window, when the window closes.",
    default_status=DefaultScheduleStatus.RUNNING,
)


@schedule(
    job=retention_job,
    cron_schedule="30 3 * * 0",  # Sundays 03:30 UTC, away from the window boundaries
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Weekly cleanup of checks and delivery-log rows past their retention.",
)
def retention_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest(run_key=f"retention-{context.scheduled_execution_time:%Y-%m-%d}")


SCHEDULES = [credential_health_schedule, retention_schedule]
