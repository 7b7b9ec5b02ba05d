"""The normalised answer of an exchange's key-information endpoint: one record per credential."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ScopeRecord:
    """What one key may do and where from, as its exchange reports it. None: the exchange does not say."""

    can_trade: bool | None = None
    can_withdraw: bool | None = None
    can_transfer: bool | None = None
    ip_restricted: bool | None = None
    ip_allowlist: tuple[str, ...] | None = None
    expires_at: datetime | None = None  # UTC-aware
    # Whether every published egress address is on the allowlist (None: no allowlist reported or none published)
    egress_allowlisted: bool | None = None
