"""The audit trail: one JSON line per check in the run's Dagster event log, and never a secret."""

from __future__ import annotations

import json

WINDOW = "2026-11-20-06:00"


def audit_records(instance, run_id: str, kind: str) -> list[dict]:
    records = []
    for entry in instance.all_logs(run_id):
        message = entry.user_message or ""
        if message.startswith("{") and f'"audit": "{kind}"' in message:
            records.append(json.loads(message))
    return records


def test_one_audit_line_per_check_without_secrets(pipeline):
    revoked = pipeline.add("acme", "binance", behaviour="revoked")
    valid = pipeline.add("globex", "kraken")
    result = pipeline.materialize(WINDOW)
    records = audit_records(pipeline.instance, result.run_id, "credential_check")
    by_tenant = {r["tenant_id"]: r for r in records}
    assert len(records) == 2
    assert by_tenant["acme"] | {"duration_ms": 0} == {
        "audit": "credential_check", "tenant_id": "acme", "exchange": "binance", "credential_type": "trading",
        "status": "invalid", "error_code": "auth_rejected", "attempts": 1, "source": "scheduled",
        "run_id": result.run_id, "duration_ms": 0,
    }
    assert by_tenant["globex"]["status"] == "valid"
    everything = "".join((e.user_message or "") + json.dumps(str(e.dagster_event)) for e in pipeline.instance.all_logs(result.run_id))
    for value in (revoked.api_key, revoked.secret, valid.api_key, valid.secret, pipeline.env["VAULT_TOKEN"]):
        assert value not in everything
