"""The code location: `dagster dev -m credential_health.definitions` (also `dg`, workspace.yaml)."""

from dagster import Definitions

from credential_health import settings
from credential_health.assets import ASSETS
from credential_health.checks import CHECKS
from credential_health.jobs import JOBS
from credential_health.ops.notify_tenants import notify_tenants_job
from credential_health.resources import default_resources
from credential_health.schedules import SCHEDULES
from credential_health.scopes.checks import SCOPE_CHECKS
from credential_health.sensors import credential_failure_sensor, webhook_delivery_sensor

defs = Definitions(
    assets=ASSETS,
    asset_checks=[*CHECKS, *SCOPE_CHECKS],
    jobs=[*JOBS, notify_tenants_job],
    schedules=SCHEDULES,
    sensors=[credential_failure_sensor, webhook_delivery_sensor],
    resources=default_resources(),
)

# Refuse settings that cannot work when the code location loads (`dagster dev`, `dagster job execute`, each run
# worker), with a message naming the variable, rather than in the middle of a run.
settings.Settings.from_env()
