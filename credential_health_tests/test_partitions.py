"""The first window: a new install shows a handful of windows, and every process of one deployment agrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from credential_health import partitions
from credential_health.settings import Settings, SettingsError

UTC = timezone.utc
SIX_HOURS = timedelta(hours=6)
PROBE = (
    "import json; from datetime import datetime, timezone; from credential_health.partitions import check_windows;"
    "print(json.dumps(check_windows.get_partition_keys(datetime.now(timezone.utc))))"
)


def partition_keys_in_new_process(env: dict[str, str]) -> list[str]:
    """What the webserver, daemon or `dagster job execute` would see: the definition built at import."""
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.slow  # starts processes
def test_a_new_install_shows_a_handful_of_windows_and_every_process_agrees(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENTIAL_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    first = partition_keys_in_new_process(env)
    assert partitions.WINDOWS_BEFORE_FIRST_START <= len(first) <= partitions.WINDOWS_BEFORE_FIRST_START + 1
    recorded = datetime.fromisoformat((tmp_path / partitions.FIRST_START_MARKER).read_text())
    assert datetime.now(UTC) - recorded < timedelta(minutes=5)
    later = partition_keys_in_new_process(env)  # another process of the same deployment
    assert later[0] == first[0] and later[: len(first)] == first


def test_the_default_counts_back_from_the_first_start_recorded_in_dagster_home(tmp_path):
    started = datetime(2026, 11, 23, 8, 17, tzinfo=UTC)
    env = {"DAGSTER_HOME": str(tmp_path)}
    first = partitions.first_window_from_env(6, env, now=started)
    assert first == datetime(2026, 11, 22, 6, tzinfo=UTC)  # 4 windows before the 06:00 window
    # A week later the recorded start still decides, so partition keys never shift under a running deployment.
    assert partitions.first_window_from_env(6, env, now=started + timedelta(days=7)) == first
    assert partitions.first_window_from_env(4, env, now=started) == datetime(2026, 11, 22, 16, tzinfo=UTC)
    assert list(tmp_path.iterdir()) == [tmp_path / partitions.FIRST_START_MARKER]  # no draft file left


def test_without_a_dagster_home_the_windows_count_back_from_now(tmp_path):
    now = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)
    assert partitions.first_window_from_env(6, {}, now=now) == datetime(2026, 11, 22, 12, tzinfo=UTC)
    missing = tmp_path / "not-created"  # Dagster itself refuses such a home; nothing is written there
    assert partitions.first_window_from_env(6, {"DAGSTER_HOME": str(missing)}, now=now) == datetime(
        2026, 11, 22, 12, tzinfo=UTC
    )
    assert not missing.exists()


def test_a_damaged_record_is_named_in_the_error(tmp_path):
    (tmp_path / partitions.FIRST_START_MARKER).write_text("not a date")
    with pytest.raises(SettingsError, match="credential_health_first_start must hold an ISO date-time"):
        partitions.first_window_from_env(6, {"DAGSTER_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:00Z", datetime(2026, 11, 1, 6, tzinfo=UTC)),
        ("2026-11-01T08:00+02:00", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ],
)
def test_an_explicit_first_window_is_used_as_given(raw, expected, tmp_path):
    env = {"CREDENTIAL_HEALTH_FIRST_WINDOW": raw, "DAGSTER_HOME": str(tmp_path)}
    assert partitions.first_window_from_env(6, env) == expected
    assert partitions.build_windows(6, expected).get_partition_keys(expected + 2 * SIX_HOURS)[0] == expected.strftime(
        partitions.WINDOW_FORMAT
    )
    assert not list(tmp_path.iterdir())  # nothing recorded when the setting decides


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2026-11-01T05:00", "must be a window boundary .* for example 2026-11-01T00:00:00"),
        ("2026-11-01T06:30", "must be a window boundary"),
        ("yesterday", "must be an ISO date"),
        ("2026-13-01", "must be an ISO date"),
        ("1970-01-01", "must be a date between the years 2000 and 2100"),
    ],
)
def test_a_bad_first_window_is_refused_naming_the_variable(raw, message):
    with pytest.raises(SettingsError, match=f"CREDENTIAL_HEALTH_FIRST_WINDOW {message}"):
        partitions.first_window_from_env(6, {"CREDENTIAL_HEALTH_FIRST_WINDOW": raw})


@pytest.mark.slow  # starts processes
def test_a_bad_first_window_stops_the_code_location_from_loading(tmp_path):
    env = {**os.environ, "CREDENTIAL_HEALTH_FIRST_WINDOW": "2026-11-01T05:00", "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "CREDENTIAL_HEALTH_FIRST_WINDOW must be a window boundary" in result.stderr


def test_settings_parse_the_first_window_and_the_shrink_share():
    settings = Settings.from_env(
        {"CREDENTIAL_HEALTH_FIRST_WINDOW": "2026-02-01", "CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK": "0.5"}
    )
    assert settings.first_window == datetime(2026, 2, 1, tzinfo=UTC) and settings.inventory_max_shrink == 0.5
    defaults = Settings.from_env({})
    assert defaults.first_window is None and defaults.inventory_max_shrink == 0.2
    for bad in ("1.5", "-0.1", "nan", "inf", "half"):
        with pytest.raises(SettingsError, match="CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK must be a share"):
            Settings.from_env({"CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK": bad})


def test_the_suite_runs_on_a_pinned_first_window():
    # conftest.py pins it so the suite's fixed 2026 windows exist; the default is tested above.
    assert datetime(2026, 1, 1, tzinfo=UTC) == partitions.WINDOWS_START
    window = partitions.window_containing(datetime(2026, 3, 1, 7, tzinfo=UTC))
    assert window.start == datetime(2026, 3, 1, 6, tzinfo=UTC)
