"""retention_job: old checks and delivery-log rows go, recent ones stay, counts are reported."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dagster import DagsterInstance
from sqlalchemy import func, select

from credential_health.definitions import defs
from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_health_checks, webhook_delivery_log


def _check(age_days: float, now: datetime) -> dict:
    at = now - timedelta(days=age_days)
    return {
        "tenant_id": "acme",
        "exchange": "binance",
        "credential_type": "trading",
        "window_start": at,
        "source": "scheduled",
        "checked_at": at,
        "status": "valid",
        "error_code": "ok",
        "duration_ms": 1,
        "attempts": 1,
    }


def _attempt(age_days: float, now: datetime) -> dict:
    return {
        "event_id": f"msg_{age_days}",
        "tenant_id": "acme",
        "event_type": "credential.failed",
        "attempt_no": 1,
        "attempted_at": now - timedelta(days=age_days),
        "duration_ms": 5,
        "status_code": 200,
    }


def test_retention_job_deletes_only_expired_rows(database_url, monkeypatch):
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", database_url)
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECKS_RETENTION_DAYS", "90")
    monkeypatch.delenv("CREDENTIAL_HEALTH_DELIVERY_LOG_RETENTION_DAYS", raising=False)  # default 30
    now = datetime.now(timezone.utc)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(credential_health_checks.insert(), [_check(d, now) for d in (1, 89, 91, 400)])
        connection.execute(webhook_delivery_log.insert(), [_attempt(d, now) for d in (1, 29, 31)])

    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("retention_job").execute_in_process(instance=instance)
    assert result.success
    assert result.output_for_node("delete_expired_rows") == {"checks_deleted": 2, "delivery_log_deleted": 1}
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["checks_deleted"].value == 2 and metadata["delivery_log_deleted"].value == 1

    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(credential_health_checks)).scalar() == 2
        assert connection.execute(select(func.count()).select_from(webhook_delivery_log)).scalar() == 2
    engine.dispose()
