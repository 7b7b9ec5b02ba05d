"""credential_failure_sensor: each new rollup materialisation launches one notify_tenants_job run."""

from __future__ import annotations

from dagster import AssetKey, DefaultSensorStatus, EventLogEntry, RunRequest, SensorEvaluationContext, asset_sensor

from credential_health.ops.notify_tenants import notify_tenants_job


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
