"""check_credential_job: validate one credential now (source=manual), from run config."""

from dagster import Config, Failure, OpExecutionContext, Output, in_process_executor, job, op
from pydantic import Field

from credential_health.audit import audit_check
from credential_health.checks import credential_label, row_findings
from credential_health.models import CredentialRef, Source
from credential_health.partitions import window_containing
from credential_health.resources import CredentialValidator, ResultsDatabase, VaultCredentialSource, stored_row
from credential_health.secret_digests import SecretDigests
from credential_health.step_errors import step_failure


class CheckCredentialConfig(Config):
    tenant_id: str = Field(description="Tenant folder in Vault")
    exchange: str = Field(description="ccxt exchange id, e.g. binance")
    credential_type: str = Field(description="Credential name under the exchange, e.g. trading")


def _path_part(name: str, value: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise Failure(f"{name} must be one Vault path segment, got {value!r}", allow_retries=False)
    return value


@op(description="Validate one credential now (source=manual), scan its row for secrets, fold it into its status.")
def check_credential(
    context: OpExecutionContext,
    config: CheckCredentialConfig,
    credentials: VaultCredentialSource,
    validator: CredentialValidator,
    results_db: ResultsDatabase,
) -> Output[dict]:
    tenant_id, exchange, credential_type = (
        _path_part(n, getattr(config, n)) for n in ("tenant_id", "exchange", "credential_type")
    )
    ref = CredentialRef(tenant_id, exchange, credential_type)
    digests = SecretDigests()
    fetch_secret = credentials.recorded(digests.add)

    try:
        results_db.reach()  # before the exchange call, as in a window's run
        if not credentials.exists(ref):
            raise Failure(f"no credential at {ref.path} in Vault", allow_retries=False)
        [check] = validator.validate(  # the same code path as the scheduled window
            [ref], fetch_secret, lambda check: audit_check(check, context.run.run_id, "manual")
        )
        window_start = window_containing(check.checked_at).start
        # The same secret-material scan as a window's, before the row is stored or can reach a webhook.
        findings = row_findings(stored_row(check, window_start, Source.MANUAL, context.run.run_id), digests)
        if findings:
            label = credential_label(ref.key, {finding.split(":")[0] for finding in findings})
            raise Failure(
                f"manual check of {label} not stored: its text holds secret material ({dict(findings)})",
                allow_retries=False,
            )
        summary = results_db.record_manual(check, window_start, context.run.run_id)
        [status] = results_db.status_rows([ref.key])
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - redacted text only
        raise step_failure(exc, digests, what="manual check") from None
    outcome = {
        "tenant_id": ref.tenant_id,
        "exchange": ref.exchange,
        "credential_type": ref.credential_type,
        "status": check.status.value,
        "error_code": check.error_code,
        "duration_ms": check.duration_ms,
        "consecutive_failures": status["consecutive_failures"],
        "checked_at": check.checked_at.isoformat(),
    }
    context.log.info(f"manual check {ref.path}: {check.status.value} ({check.error_code})")
    # No materialisation of the (partitioned) rollup: this is no window. The status row is updated above.
    metadata = {"source": "manual", **outcome, "recomputed": summary.recomputed, "at_threshold": summary.at_threshold}
    return Output(outcome, metadata={k: v for k, v in metadata.items() if v is not None})


@job(executor_def=in_process_executor, description="Validate one credential now, from run config.")
def check_credential_job():
    check_credential()
