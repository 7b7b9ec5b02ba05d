"""The audit trail: one JSON line per check in the audit log (not Dagster's event log), and never a secret."""

from __future__ import annotations

import json
import logging

import pytest

from credential_health.audit import LOGGER_NAME, audit, audit_logger
from credential_health.setting_parsers import SettingsError, audit_log_destination

WINDOW = "2026-11-20-06:00"


def read_audit(path, kind: str) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["audit"] == kind]


def test_one_audit_line_per_check_without_secrets(pipeline, monkeypatch, tmp_path):
    audit_file = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CREDENTIAL_HEALTH_AUDIT_LOG", str(audit_file))
    revoked = pipeline.add("acme", "binance", behaviour="revoked")
    valid = pipeline.add("globex", "kraken")
    result = pipeline.materialize(WINDOW)
    records = read_audit(audit_file, "credential_check")
    by_tenant = {r["tenant_id"]: r for r in records}
    assert len(records) == 2
    assert by_tenant["acme"]["at"].endswith("+00:00")
    assert by_tenant["acme"] | {"duration_ms": 0, "at": ""} == {
        "audit": "credential_check",
        "tenant_id": "acme",
        "exchange": "binance",
        "credential_type": "trading",
        "status": "invalid",
        "error_code": "auth_rejected",
        "attempts": 1,
        "source": "scheduled",
        "run_id": result.run_id,
        "duration_ms": 0,
        "at": "",
    }
    assert by_tenant["globex"]["status"] == "valid"
    # Dagster gets the per-window summary, not one event per check
    messages = [e.user_message or "" for e in pipeline.instance.all_logs(result.run_id)]
    assert not [m for m in messages if '"audit": "credential_check"' in m]
    assert any("2 checked" in m for m in messages)
    everything = audit_file.read_text() + "".join(
        m + json.dumps(str(e.dagster_event))
        for m, e in zip(messages, pipeline.instance.all_logs(result.run_id), strict=True)
    )
    for value in (revoked.api_key, revoked.secret, valid.api_key, valid.secret, pipeline.env["VAULT_TOKEN"]):
        assert value not in everything


def test_audit_destination_follows_the_setting(monkeypatch, tmp_path, capsys):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    monkeypatch.setenv("CREDENTIAL_HEALTH_AUDIT_LOG", str(first))
    audit("probe", n=1)
    monkeypatch.setenv("CREDENTIAL_HEALTH_AUDIT_LOG", str(second))
    audit("probe", n=2)
    monkeypatch.setenv("CREDENTIAL_HEALTH_AUDIT_LOG", "off")
    audit("probe", n=3)
    assert [r["n"] for r in read_audit(first, "probe")] == [1]
    assert [r["n"] for r in read_audit(second, "probe")] == [2]
    monkeypatch.setenv("CREDENTIAL_HEALTH_AUDIT_LOG", "stderr")
    audit("probe", n=4)
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["n"] == 4
    logger = audit_logger()
    ours = [h for h in logger.handlers if type(h) in (logging.StreamHandler, logging.FileHandler)]
    assert logger is logging.getLogger(LOGGER_NAME) and not logger.propagate and len(ours) == 1


def test_audit_setting_is_parsed(tmp_path):
    assert audit_log_destination("X", "") == "stderr"
    assert audit_log_destination("X", " OFF ") == "off"
    assert audit_log_destination("X", str(tmp_path / "a.jsonl")) == str(tmp_path / "a.jsonl")
    with pytest.raises(SettingsError, match="folder"):
        audit_log_destination("X", str(tmp_path))
