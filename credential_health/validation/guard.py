"""The exchange-wide guard: when too many of an exchange's good keys turn invalid at once, believe it is us.

A revoked key is one tenant's event; a third of an exchange's keys revoked in the same six hours is an egress
proxy, a firewall change or an exchange outage answering in the exchange's own words. When, in one window, more
than `share` of the credentials that were `valid` in the previous window (and at least `minimum` of them) turn
`invalid`, every exchange-stated rejection of that exchange in the window is held as
`unknown/exchange_wide_failure` (no streak grows, nobody is alerted) and a blocking asset check fails.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from dagster import AssetCheckResult, AssetCheckSpec
from sqlalchemy import Connection, and_, func, select

from credential_health.models import CheckResult, Source, Status
from credential_health.storage.schema import credential_health_checks as checks
from credential_health.validation.codes import EXCHANGE_REJECTIONS, EXCHANGE_WIDE_FAILURE

Key = tuple[str, str, str]
RESULTS = "credential_validation_results"
CHECK_NAME = "no_exchange_wide_failure"
# How far back a credential's last definite verdict counts as "before": older ones say nothing about today.
LOOKBACK = timedelta(days=7)

exchange_wide_guard_spec = AssetCheckSpec(
    CHECK_NAME,
    asset=RESULTS,
    blocking=True,
    description="No exchange had too large a share of its previously valid credentials turn invalid at once.",
)


@dataclasses.dataclass(frozen=True)
class Trip:
    """One exchange whose window looked like a failure on our side or the exchange's, not the keys'."""

    exchange: str
    previously_valid: int  # checked in this window and valid in the previous one
    turned_invalid: int  # of those, rejected by the exchange in this window
    held: int  # results of this exchange changed to unknown/exchange_wide_failure

    @property
    def share(self) -> float:
        return self.turned_invalid / self.previously_valid

    def describe(self) -> str:
        return (
            f"{self.exchange}: {self.turned_invalid} of {self.previously_valid} credentials valid in the previous "
            f"window turned invalid ({self.share:.0%}); {self.held} rejections held as unknown/"
            f"{EXCHANGE_WIDE_FAILURE}"
        )


def previously_valid(connection: Connection, window_start: datetime) -> set[Key]:
    """Credentials whose last definite scheduled check before this window (within `LOOKBACK`) was valid.

    `unknown` windows are skipped: a key held in the previous window (or timed out) keeps the verdict it had
    before, so an egress failure that lasts several windows is held in every one of them.
    """
    key_columns = (checks.c.tenant_id, checks.c.exchange, checks.c.credential_type)
    definite = and_(
        checks.c.source == Source.SCHEDULED.value,
        checks.c.status != Status.UNKNOWN.value,
        checks.c.window_start < window_start,
        checks.c.window_start >= window_start - LOOKBACK,
    )
    latest = (
        select(*key_columns, func.max(checks.c.window_start).label("latest"))
        .where(definite)
        .group_by(*key_columns)
        .subquery()
    )
    query = (
        select(*key_columns)
        .join(
            latest,
            and_(
                checks.c.tenant_id == latest.c.tenant_id,
                checks.c.exchange == latest.c.exchange,
                checks.c.credential_type == latest.c.credential_type,
                checks.c.window_start == latest.c.latest,
            ),
        )
        .where(definite, checks.c.status == Status.VALID.value)
    )
    return {tuple(row) for row in connection.execute(query)}


def _rejected(result: CheckResult) -> bool:
    return result.status is Status.INVALID and result.error_code in EXCHANGE_REJECTIONS


def hold_exchange_wide_failures(
    results: Iterable[CheckResult], valid_before: set[Key], share: float, minimum: int
) -> tuple[list[CheckResult], list[Trip]]:
    """The window's results with every rejection of a tripped exchange held, and the trips."""
    results = list(results)
    base: dict[str, int] = defaultdict(int)
    flipped: dict[str, int] = defaultdict(int)
    for result in results:
        if result.ref.key in valid_before:
            base[result.ref.exchange] += 1
            flipped[result.ref.exchange] += _rejected(result)
    tripped = {exchange for exchange, count in base.items() if count >= minimum and flipped[exchange] > share * count}
    if not tripped:
        return results, []
    held: dict[str, int] = defaultdict(int)
    guarded = []
    for result in results:
        if result.ref.exchange in tripped and _rejected(result):
            held[result.ref.exchange] += 1
            result = dataclasses.replace(
                result,
                status=Status.UNKNOWN,
                error_code=EXCHANGE_WIDE_FAILURE,
                error_message=f"held during an exchange-wide failure; the exchange answered {result.error_code}: "
                f"{result.error_message or ''}"[:500],
            )
        guarded.append(result)
    trips = [Trip(exchange, base[exchange], flipped[exchange], held[exchange]) for exchange in sorted(tripped)]
    return guarded, trips


def guard_result(trips: list[Trip], share: float, minimum: int) -> AssetCheckResult:
    """The blocking check's verdict, naming each tripped exchange and its share."""
    return AssetCheckResult(
        check_name=CHECK_NAME,
        asset_key=RESULTS,
        passed=not trips,
        description="; ".join(trip.describe() for trip in trips) or None,
        metadata={
            "threshold_share": share,
            "minimum_credentials": minimum,
            "tripped_exchanges": {
                trip.exchange: {
                    "previously_valid": trip.previously_valid,
                    "turned_invalid": trip.turned_invalid,
                    "share": f"{trip.share:.0%}",
                    "held": trip.held,
                }
                for trip in trips
            },
        },
    )
