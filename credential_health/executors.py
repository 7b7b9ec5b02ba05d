"""The executor of the window job, chosen by CREDENTIAL_HEALTH_EXECUTOR: in_process, celery or k8s."""

from __future__ import annotations

import sys

from dagster import ExecutorDefinition, in_process_executor

from credential_health.settings import SettingsError
from credential_health.shards import ScaleSettings, scale_settings

# A step's Celery task is acknowledged only once it finished: a worker killed mid-shard gives the task back to
# the queue and another worker (or the restarted one) runs the step again, which checks only what is not stored.
# Redis hands an unacknowledged task out again after visibility_timeout: longer than any shard may run.
CELERY_APP_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_transport_options": {
        "visibility_timeout": 6 * 3600,
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
}


def celery_config(scale: ScaleSettings) -> dict:
    """The celery_executor's config; workers start from the same (`python -m credential_health.executors`)."""
    broker = scale.celery_broker or scale.redis_url
    if not broker:
        raise SettingsError(
            "CREDENTIAL_HEALTH_EXECUTOR=celery needs CREDENTIAL_HEALTH_CELERY_BROKER (or CREDENTIAL_HEALTH_REDIS_URL)"
        )
    backend = broker if broker.startswith(("redis", "rediss")) else "rpc://"
    return {
        "broker": broker,
        "backend": backend,
        "config_source": {**CELERY_APP_SETTINGS, "task_default_queue": scale.celery_queue},
    }


def window_executor(scale: ScaleSettings | None = None) -> ExecutorDefinition:
    """The configured executor; the optional `scale` extra (dagster-celery, dagster-k8s) only when chosen."""
    scale = scale or scale_settings()
    if scale.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(scale), name="celery")
    if scale.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        # Image, namespace and service account come from the Helm chart's run launcher (deploy/k8s/values.yaml).
        return k8s_job_executor
    return in_process_executor


def shard_tags(pool: str) -> dict:
    """A shard's step goes to its egress pool's Celery queue, or its pod to that pool's nodes (k8s)."""
    return {
        "dagster-celery/queue": pool,
        "dagster-k8s/config": {"pod_spec_config": {"node_selector": {"credential-health/egress-pool": pool}}},
    }


def worker_yaml(scale: ScaleSettings | None = None) -> str:
    """The config file of `dagster-celery worker start -y`: the same broker and settings as the executor."""
    import yaml

    return yaml.safe_dump({"execution": {"config": celery_config(scale or scale_settings())}}, sort_keys=True)


if __name__ == "__main__":  # python -m credential_health.executors > celery.yaml
    sys.stdout.write(worker_yaml())
