"""Asset check on the validation results: WARN while any key has a high scope risk, naming each (never a secret)."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, TableColumn, asset_check
from sqlalchemy import func, or_, select

from credential_health.assets.metadata import TABLE_ROWS, capped_table
from credential_health.resources import ResultsDatabase
from credential_health.storage.schema import credential_scopes, credential_status

HIGH_RISK_COLUMNS = [
    TableColumn("tenant", "string"),
    TableColumn("exchange", "string"),
    TableColumn("type", "string"),
    TableColumn("observed_at", "string", description="when the key last reported this scope (UTC)"),
    TableColumn("reason", "string", description="the risk rules it matches (docs/operations.md)"),
]


@asset_check(
    asset="credential_validation_results",
    blocking=False,
    description="No key may withdraw funds (or match another rule set to high); WARN naming them.",
)
def no_high_risk_scopes(results_db: ResultsDatabase) -> AssetCheckResult:
    s, status = credential_scopes.c, credential_status.c
    same_key = (
        (s.tenant_id == status.tenant_id)
        & (s.exchange == status.exchange)
        & (s.credential_type == status.credential_type)
    )
    # a key removed from the inventory is no longer ours to worry about; one not rolled up yet still is
    high = (s.risk_level == "high") & or_(status.present_in_inventory.is_(None), status.present_in_inventory.is_(True))
    base = (
        select(s.tenant_id, s.exchange, s.credential_type, s.observed_at, s.risk_reason)
        .outerjoin_from(credential_scopes, credential_status, same_key)
        .where(high)
    )
    with results_db.engine.connect() as connection:
        found = connection.execute(base.order_by(s.tenant_id, s.exchange, s.credential_type).limit(TABLE_ROWS)).all()
        total = connection.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    records = [
        {"tenant": t, "exchange": e, "type": c, "observed_at": at.strftime("%Y-%m-%d %H:%M"), "reason": reason}
        for t, e, c, at, reason in found
    ]
    return AssetCheckResult(
        passed=total == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"high_risk_keys": total, "keys": capped_table(HIGH_RISK_COLUMNS, records, total, "high-risk keys")},
    )


SCOPE_CHECKS = [no_high_risk_scopes]
