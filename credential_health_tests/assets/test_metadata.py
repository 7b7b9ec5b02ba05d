"""What the UI shows: failing credentials named in the rollup, unknowns by code, escaped and capped tables."""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import AssetKey

from credential_health.assets import metadata
from credential_health.models import CheckResult, CredentialRef, Status

WINDOWS = ["2026-06-01-00:00", "2026-06-01-06:00"]
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _rows(table) -> list[dict]:
    return [dict(record.data) for record in table.records]


def check(tenant: str, exchange: str, status: Status, code: str, credential_type: str = "trading") -> CheckResult:
    return CheckResult(CredentialRef(tenant, exchange, credential_type), status, code, None, NOW, 5, 1)


def test_the_rollup_names_every_failing_credential_and_the_results_name_the_unknowns(pipeline):
    pipeline.add("acme|corp", "binance", behaviour="revoked")  # a `|` must not break any table
    pipeline.add("acme|corp", "kraken", behaviour="valid")
    pipeline.add("globex", "kraken", "readonly", behaviour="suspended")
    pipeline.add("initech", "binance", behaviour="rate_limited")
    for window in WINDOWS:
        result = pipeline.materialize(window)
        assert result.success

    rollup = _metadata(result, "credential_failure_rollup")
    table = rollup["failing_credentials"]
    assert [c.name for c in table.schema.columns] == [
        "tenant",
        "exchange",
        "type",
        "streak",
        "error_code",
        "alerted",
        "failing_since",
    ]
    assert _rows(table) == [
        {
            "tenant": "acme|corp",
            "exchange": "binance",
            "type": "trading",
            "streak": 2,
            "failing_since": "2026-06-01 00:00",
            "error_code": "auth_rejected",
            "alerted": False,
        },
        {
            "tenant": "globex",
            "exchange": "kraken",
            "type": "readonly",
            "streak": 2,
            "failing_since": "2026-06-01 00:00",
            "error_code": "account_suspended",
            "alerted": False,
        },
    ]  # the unknown one has no streak; the valid one none either

    results = _metadata(result, "credential_validation_results")
    assert results["unknown_by_code"] == {"rate_limited": 1}
    assert _rows(results["unknown_credentials"]) == [
        {"tenant": "initech", "exchange": "binance", "type": "trading", "error_code": "rate_limited"}
    ]
    worst = results["worst_tenants"]
    assert "| acme\\|corp | binance/trading invalid (auth\\_rejected) | 1 | 0 | 2 |" in worst
    assert "initech | binance/trading unknown (rate\\_limited) | 0 | 1 | 1 |" in worst
    assert "more tenants" not in worst

    inventory = _metadata(result, "credential_inventory")
    assert "| acme\\|corp | 2 |" in inventory["largest_tenants"]


def test_markdown_escaping_keeps_a_hostile_tenant_inside_its_cell():
    hostile = "a|b\n| injected | row |<script>*bold*_[link](x)"
    escaped = metadata.md_escape(hostile)
    assert "\n" not in escaped
    assert escaped.count("|") == escaped.count("\\|") == 4
    assert "\\<script\\>" in escaped and "\\*bold\\*" in escaped and "\\[link\\](x)" in escaped
    table = metadata.md_table(["tenant", "n"], ["---", "---:"], [(hostile, 1)], 1, "tenants")
    assert len(table.splitlines()) == 3  # header, alignment, exactly one row


def test_tables_are_capped_with_an_explicit_remainder():
    checks = [check(f"t-{i:03d}", "binance", Status.INVALID, "auth_rejected") for i in range(30)]
    checks += [check(f"u-{i:03d}", "kraken", Status.UNKNOWN, "timeout") for i in range(7)]
    worst = metadata.worst_tenants_markdown(checks, rows=5)
    assert worst.count("\n| t-") == 5 and "… and 32 more tenants (showing 5 of 37)." in worst
    unknown = metadata.unknown_metadata(checks, rows=3)
    rows = _rows(unknown["unknown_credentials"])
    assert [r["tenant"] for r in rows[:3]] == ["u-000", "u-001", "u-002"]
    assert rows[3] == {"tenant": "… and 4 more unknown credentials", "exchange": None, "type": None, "error_code": None}
    assert unknown["unknown_by_code"].value == {"timeout": 7}
    assert (
        metadata.worst_tenants_markdown([check("ok", "binance", Status.VALID, "ok")])
        == "No failing tenant in this window."
    )
