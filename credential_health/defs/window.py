"""The window: credential_health_job materialises every asset of one window (partition), and its schedule
launches it as each window closes."""

from dagster import AssetSelection, DefaultScheduleStatus, build_schedule_from_partitioned_job, define_asset_job

from credential_health.assets import ASSETS
from credential_health.executors import window_executor

# In-process by default: the work is IO-bound, and a subprocess per step costs seconds
# (docs/design.md#dagster-executor). Past one machine, the window's shards run on Celery workers or Kubernetes
# pods instead (CREDENTIAL_HEALTH_EXECUTOR, docs/scaling.md).
credential_health_job = define_asset_job(
    "credential_health_job",
    selection=AssetSelection.assets(*ASSETS),
    executor_def=window_executor(),
    description="Inventory, validate and roll up one window (partition) of credentials.",
)

# One run per window as it closes; the partition key is the run key, so a tick never launches a window twice.
credential_health_schedule = build_schedule_from_partitioned_job(
    credential_health_job,
    name="credential_health_schedule",
    description="Validate every credential once per window, when the window closes.",
    default_status=DefaultScheduleStatus.RUNNING,
)
