"""The code location: `dagster dev -m credential_health.definitions` (also `dg`, workspace.yaml)."""

from dagster import Definitions

from credential_health import settings
from credential_health.assets import ASSETS
from credential_health.checks import CHECKS
from credential_health.defs.manual_check import check_credential_job
from credential_health.defs.notify import credential_failure_sensor, notify_tenants_job, webhook_delivery_sensor
from credential_health.defs.retention import retention_job, retention_schedule
from credential_health.defs.scope_checks import SCOPE_CHECKS
from credential_health.defs.window import credential_health_job, credential_health_schedule
from credential_health.resources import default_resources

defs = Definitions(
    assets=ASSETS,
    asset_checks=[*CHECKS, *SCOPE_CHECKS],
    jobs=[credential_health_job, check_credential_job, retention_job, notify_tenants_job],
    schedules=[credential_health_schedule, retention_schedule],
    sensors=[credential_failure_sensor, webhook_delivery_sensor],
    resources=default_resources(),
)

# Refuse settings that cannot work when the code location loads (`dagster dev`, `dagster job execute`, each run
# worker), with a message naming the variable, rather than in the middle of a run.
settings.Settings.from_env()
