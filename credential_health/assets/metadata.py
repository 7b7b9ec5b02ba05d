"""What the Dagster UI shows about a materialisation: tables naming credentials, never a secret value.

Every table is capped (a window can hold 100k credentials) and says so with an explicit "and N more" row.
Text from Vault paths (tenant ids, exchange ids, credential types) is user input: it is escaped before it
goes into markdown, so a `|` in a tenant id cannot break a table.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema
from sqlalchemy import Engine, and_, func, select

from credential_health.models import CheckResult, CredentialRef, Status
from credential_health.storage.schema import credential_health_checks, credential_scopes, credential_status

# Rows shown per table; the rest are counted in the last row. Enough to read, small enough to render.
TABLE_ROWS = 50
MARKDOWN_ROWS = 20
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def md_escape(text: object) -> str:
    """`text` as literal markdown table-cell content: special characters escaped, line breaks flattened."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))


def md_table(
    header: Sequence[str], align: Sequence[str], rows: Iterable[Sequence[object]], total: int, noun: str
) -> str:
    """A markdown table of the first rows, escaped cell by cell, with an "and N more" line when cut off."""
    rows = list(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in rows]
    if total > len(rows):
        lines.append(f"\n… and {total - len(rows)} more {noun} (showing {len(rows)} of {total}).")
    return "\n".join(lines)


def capped_table(columns: list[TableColumn], records: list[dict], total: int, noun: str) -> MetadataValue:
    """A typed table of the given records; when cut off, a last row names how many were left out."""
    rows = [TableRecord(data=record) for record in records]
    if total > len(records):
        # every record must have every field
        remainder: dict[str, str | None] = {column.name: None for column in columns}
        remainder[columns[0].name] = f"… and {total - len(records)} more {noun}"
        rows.append(TableRecord(data=remainder))
    return MetadataValue.table(rows, schema=TableSchema(columns=columns))


# --- credential_inventory ---------------------------------------------------------------------------------


def inventory_metadata(refs: list[CredentialRef], top_tenants: int = 10) -> dict:
    """Counts per tenant, exchange and credential type (never a secret value)."""
    by_pair = Counter((r.exchange, r.credential_type) for r in refs)
    by_tenant = Counter(r.tenant_id for r in refs)
    return {
        "credentials": len(refs),
        "tenants": len(by_tenant),
        "exchanges": MetadataValue.json(dict(sorted(Counter(r.exchange for r in refs).items()))),
        "credential_types": MetadataValue.json(dict(sorted(Counter(r.credential_type for r in refs).items()))),
        "by_exchange_and_type": MetadataValue.md(
            md_table(
                ["exchange", "credential type", "credentials"],
                ["---", "---", "---:"],
                [(e, t, n) for (e, t), n in sorted(by_pair.items())],
                len(by_pair),
                "pairs",
            )
        ),
        "largest_tenants": MetadataValue.md(
            md_table(
                ["tenant", "credentials"],
                ["---", "---:"],
                by_tenant.most_common(top_tenants),
                len(by_tenant),
                "tenants",
            )
        ),
    }


# --- credential_validation_results -----------------------------------------------------------------------

UNKNOWN_COLUMNS = [
    TableColumn("tenant", "string"),
    TableColumn("exchange", "string"),
    TableColumn("type", "string"),
    TableColumn("error_code", "string", description="why the check could not tell (after in-check retries)"),
]


def unknown_metadata(checks: list[CheckResult], rows: int = TABLE_ROWS) -> dict:
    """Which credentials ended `unknown` in the window, and why (by error code)."""
    unknown = sorted((c for c in checks if c.status == Status.UNKNOWN), key=lambda c: (c.error_code, c.ref.key))
    records = [
        {
            "tenant": c.ref.tenant_id,
            "exchange": c.ref.exchange,
            "type": c.ref.credential_type,
            "error_code": c.error_code,
        }
        for c in unknown[:rows]
    ]
    return {
        "unknown_by_code": MetadataValue.json(dict(sorted(Counter(c.error_code for c in unknown).items()))),
        "unknown_credentials": capped_table(UNKNOWN_COLUMNS, records, len(unknown), "unknown credentials"),
    }


def worst_tenants_markdown(checks: list[CheckResult], rows: int = MARKDOWN_ROWS) -> str:
    """Tenants with invalid or unknown checks, most invalid first, naming each failing credential and code."""
    per_tenant: dict[str, list[CheckResult]] = {}
    for c in checks:
        per_tenant.setdefault(c.ref.tenant_id, []).append(c)
    failing = []
    for tenant, tenant_checks in per_tenant.items():
        statuses = Counter(c.status for c in tenant_checks)
        if statuses[Status.INVALID] or statuses[Status.UNKNOWN]:
            failing.append((tenant, statuses, tenant_checks))
    if not failing:
        return "No failing tenant in this window."
    failing.sort(key=lambda item: (-item[1][Status.INVALID], -item[1][Status.UNKNOWN], item[0]))
    table_rows = []
    for tenant, statuses, tenant_checks in failing[:rows]:
        bad = sorted((c for c in tenant_checks if c.status != Status.VALID), key=lambda c: c.ref.key)
        named = ", ".join(f"{c.ref.exchange}/{c.ref.credential_type} {c.status.value} ({c.error_code})" for c in bad)
        table_rows.append((tenant, named, statuses[Status.INVALID], statuses[Status.UNKNOWN], len(tenant_checks)))
    return md_table(
        ["tenant", "failing credentials (exchange/type status (code))", "invalid", "unknown", "credentials"],
        ["---", "---", "---:", "---:", "---:"],
        table_rows,
        len(failing),
        "tenants",
    )


def scope_risk_metadata(engine: Engine, window_start) -> dict:
    """The window's checked keys by scope risk level (stored by the scope audit with the rows), and how many
    failed as expired or as blocked by their own allowlist; keys whose exchange reports no scope are not counted."""
    checks, scopes = credential_health_checks.c, credential_scopes.c
    in_window = and_(checks.window_start == window_start, checks.source == "scheduled")
    same_key = and_(*(checks[n] == scopes[n] for n in ("tenant_id", "exchange", "credential_type")))
    levels = (
        select(scopes.risk_level, func.count())
        .join_from(credential_health_checks, credential_scopes, same_key)
        .where(in_window, checks.status == Status.VALID.value)
        .group_by(scopes.risk_level)
    )
    failures = (
        select(checks.error_code, func.count())
        .where(in_window, checks.error_code.in_(("key_expired", "egress_not_allowlisted")))
        .group_by(checks.error_code)
    )
    with engine.connect() as connection:
        counts = {"ok": 0, "warning": 0, "medium": 0, "high": 0, **dict(connection.execute(levels).tuples().all())}
        failed = dict(connection.execute(failures).tuples().all())
    return {
        "scope_risk": MetadataValue.json(counts),
        "high_risk_keys": counts["high"],
        "expired_keys": failed.get("key_expired", 0),
        "egress_not_allowlisted_keys": failed.get("egress_not_allowlisted", 0),
    }


# --- credential_failure_rollup ---------------------------------------------------------------------------

# Short names, the widest column last: the UI shows this table inside the metadata column (~600 px on a laptop).
FAILING_COLUMNS = [
    TableColumn("tenant", "string"),
    TableColumn("exchange", "string"),
    TableColumn("type", "string"),
    TableColumn("streak", "int", description="consecutive invalid windows"),
    TableColumn("error_code", "string", description="last error code"),
    TableColumn("alerted", "bool", description="credential.failed was sent for this episode"),
    TableColumn("failing_since", "string", description="start (UTC) of the first invalid window of the streak"),
]


def failing_credentials_metadata(engine: Engine, rows: int = TABLE_ROWS) -> dict:
    """Every present credential with a streak above 0, longest streak first (capped, with the rest counted)."""
    s = credential_status.c
    failing = (s.consecutive_failures > 0) & s.present_in_inventory.is_(True)
    query = (
        select(
            s.tenant_id,
            s.exchange,
            s.credential_type,
            s.consecutive_failures,
            s.failing_since,
            s.last_error_code,
            s.alerted_at,
        )
        .where(failing)
        .order_by(s.consecutive_failures.desc(), s.tenant_id, s.exchange, s.credential_type)
    )
    with engine.connect() as connection:
        found = connection.execute(query.limit(rows)).all()
        total = connection.execute(select(func.count()).select_from(credential_status).where(failing)).scalar_one()
    records = [
        {
            "tenant": t,
            "exchange": e,
            "type": c,
            "streak": streak,
            "failing_since": since.strftime("%Y-%m-%d %H:%M") if since else None,
            "error_code": code,
            "alerted": alerted_at is not None,
        }
        for t, e, c, streak, since, code, alerted_at in found
    ]
    return {"failing_credentials": capped_table(FAILING_COLUMNS, records, total, "failing credentials")}


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def results_metadata(checks: list[CheckResult]) -> dict:
    """Numeric per-window figures for the UI's plots, and the tenants with the most failures."""
    total = len(checks)
    statuses = Counter(c.status for c in checks)
    durations = sorted(c.duration_ms for c in checks)
    return {
        "total": total,
        "valid": statuses[Status.VALID],
        "invalid": statuses[Status.INVALID],
        "unknown": statuses[Status.UNKNOWN],
        "failure_rate": round(statuses[Status.INVALID] / total, 4) if total else 0.0,
        "unknown_rate": round(statuses[Status.UNKNOWN] / total, 4) if total else 0.0,
        "p50_duration_ms": percentile(durations, 0.50),
        "p95_duration_ms": percentile(durations, 0.95),
        "error_codes": MetadataValue.json(dict(sorted(Counter(c.error_code for c in checks).items()))),
        "worst_tenants": MetadataValue.md(worst_tenants_markdown(checks)),
        **unknown_metadata(checks),
    }
