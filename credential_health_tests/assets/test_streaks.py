"""Consecutive-failure streaks over several windows, as the issue's acceptance scenarios state them."""

from __future__ import annotations

from credential_health.partitions import window_for_key

WINDOWS = ["2026-02-01-00:00", "2026-02-01-06:00", "2026-02-01-12:00", "2026-02-01-18:00", "2026-02-02-00:00"]

# behaviour per window for each credential (None = not rescripted)
PLAN = {
    "revoked_early": ["revoked", None, None, None, "valid"],  # invalid x4 ... then valid
    "unknown_between": ["revoked", "server_error", "revoked", "revoked", None],
    "revoked_later": ["valid", "revoked", None, None, None],
}


def _streaks(pipeline) -> dict[str, int]:
    return {key[0]: row["consecutive_failures"] for key, row in pipeline.status().items()}


def test_streak_counts_windows_unknown_keeps_it_valid_resets(pipeline):
    for tenant, plan in PLAN.items():
        pipeline.add(tenant, "binance", behaviour=plan[0])
    seen = []
    for index, window in enumerate(WINDOWS):
        for tenant, plan in PLAN.items():
            if index and plan[index]:
                pipeline.rescript(tenant, "binance", plan[index])
        assert pipeline.materialize(window).success
        seen.append(_streaks(pipeline))

    after_three, after_four, after_five = seen[2], seen[3], seen[4]
    assert after_three["revoked_early"] == 3  # revoked before window 1: 3 after three windows
    assert after_three["revoked_later"] == 2  # revoked between windows 1 and 2: 2 after window 3
    assert after_four["unknown_between"] == 3  # four windows, one unknown: still 3
    assert seen[1]["unknown_between"] == 1  # the unknown window left it unchanged
    assert after_four["revoked_early"] == 4
    assert after_five["revoked_early"] == 0  # a valid window resets it

    status = pipeline.status()
    early = status[("revoked_early", "binance", "trading")]
    assert early["failing_since"] is None and early["last_status"] == "valid" and early["windows_seen"] == 5
    between = status[("unknown_between", "binance", "trading")]
    assert between["failing_since"] == window_for_key(WINDOWS[0]).start
    assert status[("revoked_later", "binance", "trading")]["failing_since"] == window_for_key(WINDOWS[1]).start


def test_manual_check_job_records_manual_and_valid_resets(pipeline):
    pipeline.add("acme", "kraken", behaviour="revoked")
    for window in WINDOWS[:2]:
        assert pipeline.materialize(window).success
    key = ("acme", "kraken", "trading")
    assert pipeline.status()[key]["consecutive_failures"] == 2

    from credential_health.definitions import defs

    job = defs.resolve_job_def("check_credential_job")
    config = {
        "ops": {
            "check_credential": {"config": {"tenant_id": "acme", "exchange": "kraken", "credential_type": "trading"}}
        }
    }
    manual = job.execute_in_process(run_config=config, instance=pipeline.instance)
    assert manual.success
    assert pipeline.status()[key]["consecutive_failures"] == 2  # a manual invalid does not add
    assert pipeline.status()[key]["last_status"] == "invalid"
    assert manual.get_asset_materialization_events() == []  # a manual check is no window of the rollup
    assert manual.output_for_node("check_credential")["status"] == "invalid"

    pipeline.rescript("acme", "kraken", "valid")
    assert job.execute_in_process(run_config=config, instance=pipeline.instance).success
    row = pipeline.status()[key]
    assert (row["consecutive_failures"], row["failing_since"], row["last_status"]) == (0, None, "valid")
    assert row["windows_seen"] == 2

    # rerunning an old window (the key is revoked again) cannot undo the later manual reset
    pipeline.rescript("acme", "kraken", "revoked")
    assert pipeline.materialize(WINDOWS[1]).success
    assert pipeline.status()[key]["consecutive_failures"] == 0
    sources = sorted(r["source"] for r in pipeline.checks())
    assert sources == ["manual", "manual", "scheduled", "scheduled"]


def test_manual_check_of_missing_credential_fails_clearly(pipeline):
    from credential_health.definitions import defs

    config = {
        "ops": {
            "check_credential": {"config": {"tenant_id": "nobody", "exchange": "binance", "credential_type": "trading"}}
        }
    }
    result = defs.resolve_job_def("check_credential_job").execute_in_process(
        run_config=config, instance=pipeline.instance, raise_on_error=False
    )
    assert not result.success
    failure = result.failure_data_for_node("check_credential")
    assert "no credential at nobody/binance/trading" in failure.error.message
    assert pipeline.checks() == [] and pipeline.status() == {}
