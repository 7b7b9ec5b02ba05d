"""The code location loads, and its schedules, checks, policies and executors are what the docs say."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dagster import AssetKey, build_schedule_context

from credential_health import partitions
from credential_health.definitions import defs
from credential_health.settings import SettingsError

RESULTS, ROLLUP = AssetKey("credential_validation_results"), AssetKey("credential_failure_rollup")


def test_assets_group_kinds_and_checks():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "credential_inventory",
        "credential_validation_results",
        "credential_failure_rollup",
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == "credential_health" and node.kinds and node.description
        assert "\n" not in node.description.strip()
    assert {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys} == {
        ("credential_validation_results", "no_secret_material"),
        ("credential_validation_results", "results_cover_inventory"),
        ("credential_validation_results", "no_exchange_wide_failure"),
        ("credential_validation_results", "no_high_risk_scopes"),
        ("credential_failure_rollup", "rollup_consistent"),
        ("credential_inventory", "inventory_not_shrunk"),
    }
    assert graph.get(RESULTS).partitions_def == graph.get(ROLLUP).partitions_def == partitions.check_windows
    assert graph.get(AssetKey("credential_inventory")).partitions_def is None


def test_freshness_retry_and_executors():
    rollup = defs.resolve_assets_def(ROLLUP)
    policy = rollup.specs_by_key[ROLLUP].freshness_policy
    assert policy.fail_window.to_timedelta() == partitions.CHECK_INTERVAL + timedelta(hours=1)
    # The results asset is a graph: its shard steps (exchange calls) and its finishing step are retried.
    graph = defs.resolve_assets_def(RESULTS).node_def
    retried = {n.definition.name: n.definition.retry_policy for n in graph.nodes}
    assert {"plan_shards", "validate_shard_default", "finish_window"} == set(retried)
    for name in ("validate_shard_default", "finish_window"):
        assert retried[name] is not None and retried[name].max_retries >= 1
    for name in ("credential_health_job", "check_credential_job", "retention_job"):
        assert defs.resolve_job_def(name).executor_def.name == "in_process"


def test_window_schedule_requests_the_window_that_just_closed():
    schedule = defs.resolve_schedule_def("credential_health_schedule")
    assert schedule.cron_schedule == "0 */6 * * *" and schedule.execution_timezone == "UTC"
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    with build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def()) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-01-06:00"
    assert request.run_key == "2026-03-01-06:00"  # deterministic: a tick never launches a window twice


def test_retention_schedule_is_weekly_with_a_run_key():
    schedule = defs.resolve_schedule_def("retention_schedule")
    assert schedule.cron_schedule == "30 3 * * 0" and schedule.job_name == "retention_job"
    tick = datetime(2026, 11, 22, 3, 30, tzinfo=timezone.utc)
    with build_schedule_context(scheduled_execution_time=tick) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_key == "retention-2026-11-22"


def test_windows_follow_the_interval_setting(monkeypatch):
    windows = partitions.build_windows(4, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert windows.cron_schedule == "0 */4 * * *"
    assert windows.get_partition_keys(datetime(2026, 1, 1, 13, tzinfo=timezone.utc)) == [
        "2026-01-01-00:00",
        "2026-01-01-04:00",
        "2026-01-01-08:00",
    ]
    assert partitions.build_windows(24, datetime(2026, 1, 1, tzinfo=timezone.utc)).cron_schedule == "0 0 * * *"
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "8")
    assert partitions.interval_hours_from_env() == 8
    monkeypatch.setenv("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "5")
    with pytest.raises(SettingsError, match="must divide 24"):
        partitions.interval_hours_from_env()


def test_window_helpers():
    window = partitions.window_for_key("2026-02-03-18:00")
    assert (window.start, window.end) == (
        datetime(2026, 2, 3, 18, tzinfo=timezone.utc),
        datetime(2026, 2, 4, 0, tzinfo=timezone.utc),
    )
    inside = partitions.window_containing(datetime(2026, 2, 3, 23, 59, tzinfo=timezone.utc))
    assert inside.start == window.start
    assert partitions.window_key(window.start) == "2026-02-03-18:00"


def test_only_infrastructure_failures_are_retried():
    from dagster import Failure
    from sqlalchemy.exc import OperationalError

    from credential_health.step_errors import step_failure
    from credential_health.vault.errors import VaultDown

    sealed = VaultDown("sealed")
    assert step_failure(sealed) is sealed  # our own secret-free text, raised as is: the RetryPolicy applies
    lost = step_failure(OperationalError("SELECT 1", {}, Exception("gone")))
    assert isinstance(lost, Failure) and lost.allow_retries is True and "SELECT 1" not in lost.description
    bug = step_failure(KeyError("a" * 64))
    assert isinstance(bug, Failure) and bug.allow_retries is False
    assert "a" * 64 not in bug.description  # key-shaped text is redacted even from unexpected errors
