"""Jobs: the per-window asset job, a manual check of one credential, and retention cleanup."""


from datetime import datetime, timedelta, timezone

from dagster import (
    AssetMaterialization,
    AssetSelection,
    Config,
    Failure,
    OpExecutionContext,
    Output,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from credential_health.assets import ASSETS
from credential_health.audit import audit_check
from credential_health.models import CredentialRef
from credential_health.partitions import window_containing
from credential_health.resources import CredentialSource, CredentialValidator, ResultsDatabase
from credential_health.settings import Settings
from credential_health.storage import results

ROLLUP_ASSET = "credential_failure_rollup"

# In-process everywhere: the work is IO-bound, and a subprocess per step costs seconds (shared/DESIGN.md).
credential_health_job = define_asset_job(
    "credential_health_job",
    selection=AssetSelection.assets(*ASSETS),
    executor_def=in_process_executor,
    description="Inventory, validate and roll up one window (partition) of credentials.",
)


class CheckCredentialConfig(Config):
    tenant_id: str = Field(description="Tenant folder in Vault")
    exchange: str = Field(description="ccxt exchange id, e.g. binance")
    credential_type: str = Field(description="Credential name under the exchange, e.g. trading")


def _path_part(name: str, value: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise Failure(f"{name} must be one Vault path segment, got {value!r}", allow_retries=False)
    return value


@op(description="Validate one credential now (source=manual) and fold it into its status.")
def check_credential(context: OpExecutionContext, config: CheckCredentialConfig, credentials: CredentialSource,
                     validator: CredentialValidator, results_db: ResultsDatabase) -> Output[dict]:
    ref = CredentialRef(*(_path_part(n, getattr(config, n)) for n in ("tenant_id", "exchange", "credential_type")))
    if not credentials.exists(ref):
        raise Failure(f"no credential at {ref.path} in Vault", allow_retries=False)
    [check] = validator.validate(  # the same code path as the scheduled window
        [ref], credentials.read, lambda check: audit_check(context.log, check, context.run.run_id, "manual"))
    summary = results_db.record_manual(check, window_containing(check.checked_at).start, context.run.run_id)
    [status] = results_db.status_rows([ref.key])
    outcome = {
        "tenant_id": ref.tenant_id, "exchange": ref.exchange, "credential_type": ref.credential_type,
        "status": check.status.value, "error_code": check.error_code, "duration_ms": check.duration_ms,
        "consecutive_failures": status["consecutive_failures"], "checked_at": check.checked_at.isoformat(),
    }
    # The rollup changed outside a window: tell the asset graph (and the notify sensor) about it.
    context.log_event(AssetMaterialization(
        asset_key=ROLLUP_ASSET, description=f"manual check of {ref.path}",
        metadata={"source": "manual", **outcome, "recomputed": summary.recomputed, "at_threshold": summary.at_threshold},
    ))
    context.log.info(f"manual check {ref.path}: {check.status.value} ({check.error_code})")
    return Output(outcome, metadata={k: v for k, v in outcome.items() if v is not None})


@job(executor_def=in_process_executor, description="Validate one credential now, from run config.")
def check_credential_job():
    check_credential()


@op(description="Delete checks and webhook delivery attempts older than their retention settings.")
def delete_expired_rows(context: OpExecutionContext, results_db: ResultsDatabase) -> Output[dict]:
    settings = Settings.from_env()
    now = datetime.now(timezone.utc)
    checks_cutoff = now - timedelta(days=settings.checks_retention_days)
    log_cutoff = now - timedelta(days=settings.delivery_log_retention_days)
    deleted = {
        "checks_deleted": results.delete_checks_before(results_db.engine, checks_cutoff),
        "delivery_log_deleted": results.delete_delivery_log_before(results_db.engine, log_cutoff),
    }
    context.log.info(f"retention: {deleted}")
    return Output(deleted, metadata={**deleted, "checks_cutoff": checks_cutoff.isoformat(),
                                     "delivery_log_cutoff": log_cutoff.isoformat()})


@job(executor_def=in_process_executor, description="Weekly cleanup of old checks and delivery-log rows.")
def retention_job():
    delete_expired_rows()


JOBS = [credential_health_job, check_credential_job, retention_job]
