"""One window end to end (real OpenBao, the simulator over HTTP, SQLite and PostgreSQL), and only real windows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from credential_health.partitions import UnknownWindow, closed_window, window_containing, window_for_key, window_key

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

WINDOW = "2026-03-01-06:00"
# (tenant, exchange, behaviour) -> (status, error_code)
SCRIPTED = {
    ("acme", "binance", "valid"): ("valid", "ok"),
    ("acme", "kraken", "revoked"): ("invalid", "auth_rejected"),
    ("globex", "binance", "permission_denied"): ("invalid", "permission_denied"),
    ("globex", "kraken", "suspended"): ("invalid", "account_suspended"),
    ("initech", "binance", "rate_limited"): ("unknown", "rate_limited"),
    ("initech", "kraken", "server_error"): ("unknown", "exchange_unavailable"),
    ("umbrella", "binance", "flaky"): ("valid", "ok"),
}


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_materialize_window_records_every_scripted_behaviour(pipeline):
    for tenant, exchange, behaviour in SCRIPTED:
        pipeline.add(tenant, exchange, behaviour=behaviour, fail_first=1)

    result = pipeline.materialize_assets(WINDOW)
    assert result.success

    rows = pipeline.checks()
    window = window_for_key(WINDOW)
    assert {r["window_start"] for r in rows} == {window.start}
    assert {r["source"] for r in rows} == {"scheduled"}
    got = {(r["tenant_id"], r["exchange"]): (r["status"], r["error_code"]) for r in rows}
    assert got == {(t, e): expected for (t, e, _), expected in SCRIPTED.items()}
    assert all(r["run_id"] == result.run_id for r in rows)

    inventory = _metadata(result, "credential_inventory")
    assert inventory["credentials"] == len(SCRIPTED) and inventory["tenants"] == 4
    assert inventory["exchanges"] == {"binance": 4, "kraken": 3}

    meta = _metadata(result, "credential_validation_results")
    assert (meta["total"], meta["valid"], meta["invalid"], meta["unknown"]) == (7, 2, 3, 2)
    assert meta["failure_rate"] == pytest.approx(3 / 7, abs=1e-4)
    assert 0 <= meta["p50_duration_ms"] <= meta["p95_duration_ms"]
    assert "globex" in meta["worst_tenants"]

    rollup = _metadata(result, "credential_failure_rollup")
    assert (rollup["credentials"], rollup["failing"], rollup["removed"]) == (7, 3, 0)
    assert _checks(result) == {
        "no_secret_material": True,
        "results_cover_inventory": True,
        "rollup_consistent": True,
        "no_exchange_wide_failure": True,
        "inventory_not_shrunk": True,
    }

    status = pipeline.status()
    assert status[("acme", "kraken", "trading")]["consecutive_failures"] == 1
    assert status[("acme", "kraken", "trading")]["failing_since"] == window.start
    assert status[("acme", "binance", "trading")]["last_success_at"] is not None
    assert status[("initech", "binance", "trading")]["consecutive_failures"] == 0
    assert all(s["windows_seen"] == 1 and s["last_event_at"] == window.end for s in status.values())

    # nothing secret anywhere: stored rows, status rows, run metadata
    stored = repr(rows) + repr(status) + repr([e.event_specific_data for e in result.all_events])
    for credential in pipeline.secrets.values():
        for value in credential.sensitive_values():
            assert value not in stored
    token = pipeline.env["VAULT_TOKEN"]  # settings come from the environment, never from run config
    assert token not in stored and token not in repr(result.dagster_run.run_config)


def _open_window_key() -> str:
    return window_key(window_containing(datetime.now(timezone.utc)).start)


def test_closed_window_names_what_is_wrong_with_a_key():
    now = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)
    assert closed_window("2026-03-02-00:00", now) == window_for_key("2026-03-02-00:00")
    refusals = {
        "2026-03-02-06:00": "window 2026-03-02-06:00 has not ended yet (it ends 2026-03-02T12:00:00+00:00)",
        "2026-03-09-00:00": "has not ended yet",
        "2026-03-02-07:00": "is not a window start of the 6-hour windows",
        "2026-3-2-00:00": "is not a window start",
        "2026-02-30-00:00": "is not a window: a key is a window start in UTC, YYYY-MM-DD-HH:MM, e.g. 2026-03-02-00:00",
        "yesterday": "is not a window",
        "2025-12-31-18:00": "is before the first window (2026-01-01-00:00)",
    }
    for key, said in refusals.items():
        with pytest.raises(UnknownWindow, match=re.escape(said)):
            closed_window(key, now)


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("key", ["open", "2026-03-01-07:00", "2025-12-31-18:00"])
def test_a_run_tagged_with_a_key_outside_the_partition_set_is_refused_before_vault(pipeline, key):
    key = _open_window_key() if key == "open" else key
    credential = pipeline.add("acme", "binance")
    from credential_health.definitions import defs

    result = defs.resolve_job_def("credential_health_job").execute_in_process(
        instance=pipeline.instance, tags={"dagster/partition": key}, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "credential_inventory"
    assert failure.step_failure_data.user_failure_data.description.startswith("refused: ")
    assert key in failure.step_failure_data.user_failure_data.description
    assert result.get_asset_materialization_events() == []
    assert pipeline.simulator.requests(api_key=credential.api_key) == []
    assert pipeline.checks() == [] and pipeline.status() == {}


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_dagster_job_execute_refuses_the_open_window(pipeline, tmp_path):
    """As an operator would type it: the real CLI, a temporary DAGSTER_HOME, the still-open window's key."""
    credential = pipeline.add("acme", "binance")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("PYTHONPATH", None)
    key = _open_window_key()
    command = [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "credential_health.definitions",
        "-j",
        "credential_health_job",
        "--tags",
        json.dumps({"dagster/partition": key}),
    ]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0, output[-3000:]
    assert f"refused: window {key} has not ended yet" in output
    assert pipeline.simulator.requests(api_key=credential.api_key) == []
    assert pipeline.checks() == [] and pipeline.status() == {}
    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.tags["dagster/partition"] == key and run.is_failure
        materialized = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        assert materialized.records == []
