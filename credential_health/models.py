"""Plain data types shared by the Vault walk, the validator, storage and the Dagster assets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from credential_health.scopes.record import ScopeRecord


class Status(str, enum.Enum):
    """Outcome of one check (see docs/design.md#outcome-classification)."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class Source(str, enum.Enum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class EventType(enum.StrEnum):
    """A webhook event's `type` (the wire and stored value)."""

    FAILED = "credential.failed"
    RECOVERED = "credential.recovered"
    SCOPE_RISK = "credential.scope_risk"
    EXPIRING = "credential.expiring"
    SCOPE_CHANGED = "credential.scope_changed"


class OutboxState(enum.StrEnum):
    """A webhook_events row's delivery state (the stored value)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    SUPERSEDED = "superseded"


class CloseReason(enum.StrEnum):
    """Why a failure episode closed (the stored value)."""

    RECOVERED = "recovered"
    REMOVED = "removed"
    REVISED = "revised"


class MalformedSecret(Exception):
    """The secret stored in Vault lacks a field ccxt needs; the message names the field, never a value."""


class SecretUnavailable(Exception):
    """The secret could not be read for this one credential (deleted since the walk, for example)."""


@dataclass(frozen=True, order=True)
class CredentialRef:
    """Where a credential lives: tenant, exchange id and credential type, as taken from its Vault path."""

    tenant_id: str
    exchange: str
    credential_type: str
    version: int | None = field(default=None, compare=False)
    updated_time: datetime | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.exchange, self.credential_type)

    @property
    def path(self) -> str:
        """Path relative to the tenants folder, e.g. ``acme/binance/trading``."""
        return f"{self.tenant_id}/{self.exchange}/{self.credential_type}"


@dataclass(frozen=True)
class ExchangeSecret:
    """An exchange API key read just in time from Vault. Its repr never shows a value."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    uid: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "ExchangeSecret(<redacted>)"

    __str__ = __repr__

    def ccxt_config(self) -> dict[str, str]:
        """The credential fields under ccxt's own names."""
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            config["password"] = self.password
        if self.uid:
            config["uid"] = self.uid
        return config

    def sensitive_values(self) -> list[str]:
        """Every non-empty value, for redaction of text that might echo them."""
        return [v for v in (self.api_key, self.secret, self.password, self.uid) if v]


@dataclass(frozen=True)
class CheckResult:
    """One validation of one credential."""

    ref: CredentialRef
    status: Status
    error_code: str
    error_message: str | None
    checked_at: datetime
    duration_ms: int
    attempts: int
    scope: ScopeRecord | None = None  # the key-information probe's record, after a valid check only
    egress_address: str = ""  # the source address the check was sent from ("" = the host's default)
    scope_error: str = ""  # why a valid check's scope probe gave no record (an error code); "" otherwise
