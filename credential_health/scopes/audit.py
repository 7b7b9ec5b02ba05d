"""The scope audit of a batch of check rows: current records, change rows, events, and egress failures told apart.

Runs in the transaction that stores the rows (storage.window_rows), under the scopes lock. Per credential:

- a valid check's ScopeRecord newer than the stored one becomes current; if it differs, a change row is added
  and `credential.scope_changed` sent (not for the first record seen: nothing changed), and
  `credential.scope_risk` when the level (expiry left out: it has its own event) rose, from "ok" for a first record;
- `credential.expiring` once at 14 and once at 3 days before `expires_at` (judged at the check's time);
- an invalid check rejected as a bad key (auth_rejected, permission_denied) whose last known allowlist lacks
  the address the check used is stored as `egress_not_allowlisted`, with what to fix in its message.

The address a check used: its own `egress_address`; else CREDENTIAL_HEALTH_EGRESS_ADDRESS; else, unknown,
the failure is blamed on the allowlist only if it lacks every published egress address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import Connection

from credential_health.notify.scope_events import (
    EXPIRING,
    MILESTONES,
    SCOPE_CHANGED,
    SCOPE_RISK,
    ScopeOutbox,
    scope_fields,
)
from credential_health.scopes import risk as rules
from credential_health.scopes.record import ScopeRecord
from credential_health.storage import scopes as store
from credential_health.validation.codes import AUTH_REJECTED, EGRESS_NOT_ALLOWLISTED, PERMISSION_DENIED

Key = tuple[str, str, str]
BAD_KEY_CODES = frozenset({AUTH_REJECTED, PERMISSION_DENIED})
MESSAGE_COLUMN = 500


@dataclass(frozen=True)
class ScopePolicy:
    """What the audit judges against: the published egress addresses, our own, and the risk level overrides."""

    published: tuple[str, ...] = ()
    own_egress: str = ""
    overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings) -> ScopePolicy:
        return cls(settings.published_egress_addresses, settings.egress_address, settings.scope_risk_levels)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def egress_failure(row: dict, stored: dict, policy: ScopePolicy) -> dict:
    """`row` re-coded as egress_not_allowlisted when the stored (last working) allowlist lacks its address."""
    if stored["ip_allowlist"] is None or stored["ip_restricted"] is False:
        return row  # no allowlist known: nothing to judge from
    listed = set(json.loads(stored["ip_allowlist"]))
    used = row.get("egress_address") or policy.own_egress
    candidates = [used] if used else list(policy.published)
    missing = [address for address in candidates if address not in listed]
    if not candidates or len(missing) < len(candidates):
        return row
    addresses = ", ".join(missing)
    message = (
        f"the key's IP allowlist (as last seen {_iso(stored['observed_at'])}) lacks {addresses}, the "
        f"address{'' if used else 'es'} this check could come from: add {addresses} to the key's allowlist "
        f"at {row['exchange']}; the key itself may be fine (previously: {row['error_code']})"
    )
    return {**row, "error_code": EGRESS_NOT_ALLOWLISTED, "error_message": message[:MESSAGE_COLUMN]}


def _milestone(expires_at: datetime | None, at: datetime) -> int | None:
    """The nearest expiry milestone (days before) already reached at `at`, while not yet expired."""
    if expires_at is None or expires_at <= at:
        return None
    reached = [days for days in MILESTONES if expires_at - at <= timedelta(days=days)]
    return min(reached) if reached else None


class ScopeAudit:
    """Audits one batch of check rows (see the module docstring)."""

    def __init__(self, connection: Connection, policy: ScopePolicy, now: datetime):
        self.connection, self.policy, self.now = connection, policy, now
        self.outbox = ScopeOutbox(connection, now)
        self.current: list[dict] = []
        self.changes: list[dict] = []

    def run(self, rows: list[dict], records: Mapping[Key, ScopeRecord]) -> list[dict]:
        """The rows to store (egress failures re-coded); records, changes and events written."""
        store.lock(self.connection)
        stored = store.current(self.connection, [(r["tenant_id"], r["exchange"], r["credential_type"]) for r in rows])
        out = []
        for row in rows:
            key = (row["tenant_id"], row["exchange"], row["credential_type"])
            old = stored.get(key)
            if old is not None and row["status"] == "invalid" and row["error_code"] in BAD_KEY_CODES:
                row = egress_failure(row, old, self.policy)
            scope = records.get(key)
            newer = old is None or row["checked_at"] >= old["observed_at"]  # an overtaken run's record is older
            if scope is not None and row["status"] == "valid" and newer:
                self._observe(key, scope, row, old)
            out.append(row)
        store.write(self.connection, self.current, self.changes)
        self.outbox.write()
        return out

    def _observe(self, key: Key, scope: ScopeRecord, row: dict, old: dict | None) -> None:
        at, policy = row["checked_at"], self.policy
        risk = rules.assess(scope, at, policy.published, policy.overrides)
        missing = rules.missing_egress(scope, policy.published)
        current = dict(
            zip(store.KEY_NAMES, key, strict=True),
            **store.to_columns(scope),
            risk_level=risk.level,
            risk_reason=risk.reason,
            missing_egress=",".join(missing) or None,
            egress_address=row.get("egress_address"),
            observed_at=at,
            updated_at=self.now,
        )
        previous = store.from_columns(old) if old else None
        if old is not None and previous == scope:
            current.update(changed_at=old["changed_at"], change_id=old["change_id"])
        else:
            self._change(key, scope, previous, old, risk, current)
        self.current.append(current)
        milestone = _milestone(scope.expires_at, at)
        if milestone is not None:
            identity = "\x1f".join((*key, _iso(scope.expires_at) or "", str(milestone)))
            self.outbox.add(
                EXPIRING,
                identity,
                key,
                {
                    "expires_at": _iso(scope.expires_at),
                    "days_before": milestone,
                    "days_left": (scope.expires_at - at).days,
                    "scope": scope_fields(scope),
                    "risk_level": risk.level,
                    "reason": risk.reason,
                    "observed_at": _iso(at),
                },
            )

    def _change(
        self,
        key: Key,
        scope: ScopeRecord,
        previous: ScopeRecord | None,
        old: dict | None,
        risk: rules.Risk,
        current: dict,
    ) -> None:
        at, policy = current["observed_at"], self.policy
        previous_id = old["change_id"] if old else None
        change = store.change_id(key, previous_id, scope)
        changed = [
            f.name
            for f in fields(ScopeRecord)
            if previous is not None and getattr(previous, f.name) != getattr(scope, f.name)
        ]
        self.changes.append(
            dict(
                {n: current[n] for n in (*store.KEY_NAMES, *store.FIELDS, "risk_level", "risk_reason")},
                change_id=change,
                previous_change_id=previous_id,
                observed_at=at,
                previous_risk_level=old["risk_level"] if old else None,
                changed_fields=",".join(changed),
                recorded_at=self.now,
            )
        )
        current.update(changed_at=at, change_id=change)
        common = {
            "scope": scope_fields(scope),
            "previous_scope": scope_fields(previous),
            "change_id": change,
            "observed_at": _iso(at),
        }
        if previous is not None and old is not None:
            self.outbox.add(
                SCOPE_CHANGED,
                change,
                key,
                {
                    "changed_fields": changed,
                    "risk_level": risk.level,
                    "previous_risk_level": old["risk_level"],
                    "reason": risk.reason,
                    **common,
                },
            )
        skip = (rules.EXPIRING,)  # expiry has its own event
        new = rules.assess(scope, at, policy.published, policy.overrides, skip)
        before = rules.assess(previous, at, policy.published, policy.overrides, skip) if previous else None
        if new.rank() > (before.rank() if before else 0):
            self.outbox.add(
                SCOPE_RISK,
                change,
                key,
                {
                    "risk_level": new.level,
                    "previous_risk_level": before.level if before else None,
                    "reason": new.reason,
                    "rules": list(new.rules),
                    "missing_egress": list(rules.missing_egress(scope, policy.published)),
                    **common,
                },
            )
