"""The validation windows: one UTC time-window partition per check interval. The only place they are defined.

The partitions definition is built when the code location is imported, so its first window must be the same
in every process of one deployment: it is CREDENTIAL_HEALTH_FIRST_WINDOW when set, else a few windows before
the moment the code location first loaded in this DAGSTER_HOME (recorded there in a small file). A new install
therefore shows a handful of windows, not every window since some fixed date.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster import Failure, TimeWindow, TimeWindowPartitionsDefinition

from credential_health.settings import SettingsError, variable

WINDOW_FORMAT = "%Y-%m-%d-%H:%M"
WINDOW_FORMAT_TEXT = "YYYY-MM-DD-HH:MM"
PARTITION_TAG = "dagster/partition"  # how `dagster job execute --tags` names a run's window
INTERVAL_VARIABLE = "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS"
FIRST_WINDOW_VARIABLE = "CREDENTIAL_HEALTH_FIRST_WINDOW"
# Written once into DAGSTER_HOME by the first process that loads the code location there; every later
# process (webserver, daemon, run workers, `dagster job execute`) reads it, so they all build the same windows.
FIRST_START_MARKER = "credential_health_first_start"
# Windows that exist before the first start: enough for the demo's four windows, few enough to read at a glance.
WINDOWS_BEFORE_FIRST_START = 4


def interval_hours_from_env(env: Mapping[str, str] | None = None) -> int:
    """The window length in hours."""
    # this variable alone, so an unrelated bad setting cannot stop the code location from loading
    return variable(INTERVAL_VARIABLE).parse(os.environ if env is None else env)


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def align_down(moment: datetime, interval: timedelta) -> datetime:
    """Start of the window holding `moment`: windows start every `interval` from midnight UTC."""
    moment = as_utc(moment)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((moment - midnight) // interval) * interval


def first_start(home: str | None, now: datetime) -> datetime:
    """When the code location first loaded in this Dagster home (recorded then); `now` without a home."""
    if not home or not Path(home).is_dir():
        return now
    marker = Path(home) / FIRST_START_MARKER
    if not marker.exists():
        draft = marker.with_name(f"{marker.name}.{os.getpid()}")
        try:
            draft.write_text(as_utc(now).isoformat())
            os.link(draft, marker)  # atomic: of two processes starting at once, one record wins
        except FileExistsError:
            pass
        except OSError:  # a read-only home: nothing to agree on across restarts, so count back from now
            return now
        finally:
            draft.unlink(missing_ok=True)
    try:
        return datetime.fromisoformat(marker.read_text().strip())
    except ValueError:
        raise SettingsError(
            f"{marker} must hold an ISO date-time (the first start); fix or delete it, or set {FIRST_WINDOW_VARIABLE}"
        ) from None


def first_window_from_env(hours: int, env: Mapping[str, str] | None = None, now: datetime | None = None) -> datetime:
    """Start of the first window: CREDENTIAL_HEALTH_FIRST_WINDOW, else a few windows before the first start."""
    env = os.environ if env is None else env
    interval = timedelta(hours=hours)
    chosen = variable(FIRST_WINDOW_VARIABLE).parse(env)
    if chosen is not None:
        if align_down(chosen, interval) != chosen:
            raise SettingsError(
                f"{FIRST_WINDOW_VARIABLE} must be a window boundary (every {hours} h from midnight UTC), got "
                f"{chosen.isoformat()}; for example {align_down(chosen, interval).isoformat()}"
            )
        return chosen
    started = first_start(env.get("DAGSTER_HOME"), now or datetime.now(timezone.utc))
    return align_down(started, interval) - WINDOWS_BEFORE_FIRST_START * interval


def window_cron(hours: int) -> str:
    """Cron of window boundaries: every `hours` hours from midnight UTC (hours divides 24)."""
    return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"


def build_windows(hours: int, first_window: datetime) -> TimeWindowPartitionsDefinition:
    return TimeWindowPartitionsDefinition(
        start=first_window,
        cron_schedule=window_cron(hours),
        fmt=WINDOW_FORMAT,
        timezone="UTC",
    )


CHECK_INTERVAL_HOURS = interval_hours_from_env()
CHECK_INTERVAL = timedelta(hours=CHECK_INTERVAL_HOURS)
WINDOWS_START = first_window_from_env(CHECK_INTERVAL_HOURS)
check_windows = build_windows(CHECK_INTERVAL_HOURS, WINDOWS_START)


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
        raise UnknownWindow(
            f"partition key {partition_key!r} is not a window start of the "
            f"{CHECK_INTERVAL_HOURS}-hour windows: {expected}"
        )
    if start < WINDOWS_START:
        raise UnknownWindow(f"partition key {partition_key!r} is before the first window ({window_key(WINDOWS_START)})")
    if window.end > as_utc(now or datetime.now(timezone.utc)):
        raise UnknownWindow(
            f"window {partition_key} has not ended yet (it ends {window.end.isoformat()}): "
            f"only windows that have ended are validated; {expected}"
        )
    return window


def require_closed_window(partition_key: str | None) -> TimeWindow:
    """closed_window() for a run: a key outside the partition set fails the step at once, without retries."""
    try:
        return closed_window(partition_key or "")  # no key: refused like any key outside the set
    except UnknownWindow as refused:
        raise Failure(description=f"refused: {refused}", allow_retries=False) from None


def window_containing(moment: datetime) -> TimeWindow:
    """The window (possibly still open) that `moment` falls in."""
    start = align_down(moment, CHECK_INTERVAL)
    return TimeWindow(start, start + CHECK_INTERVAL)
