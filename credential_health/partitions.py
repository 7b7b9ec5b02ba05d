"""The validation windows: one UTC time-window partition per check interval. The only place they are defined."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from dagster import TimeWindow, TimeWindowPartitionsDefinition

from credential_health.settings import SETTINGS

WINDOW_FORMAT = "%Y-%m-%d-%H:%M"
# Fixed, so partition keys never shift when the code location reloads.
WINDOWS_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
INTERVAL_VARIABLE = "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS"


def interval_hours_from_env() -> int:
    """The window length, parsed by the same rule as Settings (only this variable, so an unrelated bad
    setting cannot stop the code location from loading)."""
    _, _, parse, default, _ = next(entry for entry in SETTINGS if entry[0] == INTERVAL_VARIABLE)
    return parse(INTERVAL_VARIABLE, os.environ.get(INTERVAL_VARIABLE, default))


def window_cron(hours: int) -> str:
    """Cron of window boundaries: every `hours` hours from midnight UTC (hours divides 24)."""
    return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"


def build_windows(hours: int) -> TimeWindowPartitionsDefinition:
    return TimeWindowPartitionsDefinition(
        start=WINDOWS_START,
        cron_schedule=window_cron(hours),
        fmt=WINDOW_FORMAT,
        timezone="UTC",
    )


CHECK_INTERVAL_HOURS = interval_hours_from_env()
CHECK_INTERVAL = timedelta(hours=CHECK_INTERVAL_HOURS)
check_windows = build_windows(CHECK_INTERVAL_HOURS)


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def window_for_key(partition_key: str) -> TimeWindow:
    """Start and end (UTC) of the window named `partition_key`."""
    window = check_windows.time_window_for_partition_key(partition_key)
    return TimeWindow(as_utc(window.start), as_utc(window.end))


def window_key(start: datetime) -> str:
    return as_utc(start).strftime(WINDOW_FORMAT)


def window_containing(moment: datetime) -> TimeWindow:
    """The window (possibly still open) that `moment` falls in."""
    moment = as_utc(moment)
    offset = (moment - WINDOWS_START) // CHECK_INTERVAL
    start = WINDOWS_START + offset * CHECK_INTERVAL
    return TimeWindow(start, start + CHECK_INTERVAL)
