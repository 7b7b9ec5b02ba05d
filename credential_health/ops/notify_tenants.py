"""notify_tenants_job: signed webhook deliveries of the outbox events the rollup wrote."""



from dagster import OpExecutionContext, Output, in_process_executor, job, op

from credential_health.metrics import push_if_configured
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import notify_tenants
from credential_health.resources import ResultsDatabase
from credential_health.settings import Settings


@op(description="Deliver due credential.failed / credential.recovered webhooks from the outbox.")
def notify_tenants_op(context: OpExecutionContext, results_db: ResultsDatabase) -> Output[dict]:
    settings = Settings.from_env()
    report = notify_tenants(
        settings, results_db.engine, WebhookSecretStore.from_settings(settings), run_id=context.run_id, audit=context.log
    )
    push_if_configured(settings, results_db.engine, grouping={"job": "notify_tenants_job"})
    summary = {
        "delivered": report.dispatch.delivered,
        "rejected": report.dispatch.failed,
        "still_pending": report.dispatch.deferred,
        "disabled_endpoints": len(report.dispatch.disabled_endpoints),
    }
    return Output(summary, metadata=summary)


@job(executor_def=in_process_executor, description="Send signed webhooks for credentials that crossed the failure threshold or recovered.")
def notify_tenants_job():
    notify_tenants_op()
