"""`credential_failure_rollup`: current status and consecutive-failure streak per credential."""

from dataclasses import asdict
from datetime import timedelta

from dagster import AssetDep, AssetExecutionContext, FreshnessPolicy, MaterializeResult, asset

from credential_health.assets.metadata import failing_credentials_metadata
from credential_health.assets.validation_results import credential_validation_results
from credential_health.models import CredentialRef
from credential_health.partitions import CHECK_INTERVAL, as_utc, check_windows
from credential_health.resources import ResultsDatabase

GROUP = "credential_health"
# A window's run starts when the window ends and takes minutes; an hour of slack before "stale".
FRESHNESS_GRACE = timedelta(hours=1)


@asset(
    partitions_def=check_windows,
    group_name=GROUP,
    kinds={"sql"},
    deps=[AssetDep(credential_validation_results)],  # read from the checks table, not through an IO manager
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=CHECK_INTERVAL + FRESHNESS_GRACE, warn_window=CHECK_INTERVAL
    ),
)
def credential_failure_rollup(
    context: AssetExecutionContext, credential_inventory: list[CredentialRef], results_db: ResultsDatabase
) -> MaterializeResult:
    """Streak of consecutive invalid windows and current status per credential, in credential_status."""
    window_start = as_utc(context.partition_time_window.start)
    summary = results_db.rollup_window(window_start, {ref.key for ref in credential_inventory})
    context.log.info(f"rollup {context.partition_key}: {summary}")
    return MaterializeResult(
        metadata={
            **failing_credentials_metadata(results_db.engine),  # first: the UI's top row
            "window_start": window_start.isoformat(),
            **asdict(summary),
        }
    )
