"""The validation windows: one UTC time-window partition per check interval. The only place they are defined."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from dagster import Failure, TimeWindow, TimeWindowPartitionsDefinition

from credential_health.settings import SETTINGS

WINDOW_FORMAT = "%Y-%m-%d-%H:%M"
WINDOW_FORMAT_TEXT = "YYYY-MM-DD-HH:MM"
PARTITION_TAG = "dagster/partition"  # how `dagster job execute --tags` names a run's window
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


class UnknownWindow(ValueError):
    """A partition key that names no window of the partition set (a typo, the open window, before the first)."""


def closed_window(partition_key: str, now: datetime | None = None) -> TimeWindow:
    """The window named `partition_key` if it is in the partition set (a whole window that has ended);
    UnknownWindow, saying why and what a key looks like, otherwise."""
    example = window_key(window_containing(now or datetime.now(timezone.utc)).start - CHECK_INTERVAL)
    expected = f"a key is a window start in UTC, {WINDOW_FORMAT_TEXT}, e.g. {example}"
    try:
        start = datetime.strptime(partition_key, WINDOW_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise UnknownWindow(f"partition key {partition_key!r} is not a window: {expected}") from None
    window = window_containing(start)
    if window_key(start) != partition_key or window.start != start:
        raise UnknownWindow(f"partition key {partition_key!r} is not a window start of the "
                            f"{CHECK_INTERVAL_HOURS}-hour windows: {expected}")
    if start < WINDOWS_START:
        raise UnknownWindow(f"partition key {partition_key!r} is before the first window "
                            f"({window_key(WINDOWS_START)})")
    if window.end > as_utc(now or datetime.now(timezone.utc)):
        raise UnknownWindow(f"window {partition_key} has not ended yet (it ends {window.end.isoformat()}): "
                            f"only windows that have ended are validated; {expected}")
    return window


def require_closed_window(partition_key: str | None) -> TimeWindow:
    """closed_window() for a run: a key outside the partition set fails the step at once, without retries."""
    try:
        return closed_window(partition_key)
    except UnknownWindow as refused:
        raise Failure(description=f"refused: {refused}", allow_retries=False) from None


def window_containing(moment: datetime) -> TimeWindow:
    """The window (possibly still open) that `moment` falls in."""
    moment = as_utc(moment)
    offset = (moment - WINDOWS_START) // CHECK_INTERVAL
    start = WINDOWS_START + offset * CHECK_INTERVAL
    return TimeWindow(start, start + CHECK_INTERVAL)
