"""notify_tenants_job: one delivery run over the outbox (claims due events with a lease, sends signed webhooks)."""

from dagster import OpExecutionContext, Output, in_process_executor, job, op

from credential_health.metrics import push_if_configured
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.resources import ResultsDatabase

# Runs carrying this tag are limited to one at a time by the instance's run coordinator (dagster.yaml).
DELIVERY_TAG = "credential_health/delivery"


@op(description="Claim due outbox events with a lease and deliver them as signed webhooks.")
def notify_tenants_op(context: OpExecutionContext, results_db: ResultsDatabase) -> Output[dict]:
    settings = results_db.settings
    report = dispatch(
        settings, results_db.engine, WebhookSecretStore.from_settings(settings), run_id=context.run_id,
        audit=context.log
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


@job(executor_def=in_process_executor, tags={DELIVERY_TAG: "true"},
     description="Deliver due webhooks from the outbox (one delivery run at a time per instance).")
def notify_tenants_job():
    notify_tenants_op()
