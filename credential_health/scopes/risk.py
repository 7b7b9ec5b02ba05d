"""Risk levels of a key's scope record: the rules in one table, their levels overridable by a setting.

| rule                        | when                                                        | default level |
|-----------------------------|-------------------------------------------------------------|---------------|
| `withdrawal_enabled`        | the key may withdraw funds                                  | high          |
| `trading_without_ip_restriction` | the key may trade and has no IP restriction            | medium        |
| `egress_not_allowlisted`    | the allowlist lacks one of the published egress addresses   | warning       |
| `expiring`                  | the key expires within 14 days                              | warning       |

A key already expired is not a risk but a failure: the probe makes its check `invalid` with code
`key_expired`, so it counts toward the failure streak and is announced by `credential.failed`.
A field the exchange does not report (None) never matches a rule: no guess.
CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS (JSON, e.g. `{"trading_without_ip_restriction": "high"}`) overrides a
rule's level; `"off"` disables it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from credential_health.scopes.record import ScopeRecord
from credential_health.setting_parsers import SettingsError

LEVELS = ("ok", "warning", "medium", "high")  # ascending
OFF = "off"
EXPIRY_WARNING = timedelta(days=14)
EXPIRING = "expiring"


@dataclass(frozen=True)
class Rule:
    name: str
    level: str
    matches: Callable[[ScopeRecord, tuple[str, ...], datetime], str | None]  # the reason, or None


def missing_egress(scope: ScopeRecord, published: tuple[str, ...]) -> tuple[str, ...]:
    """Published egress addresses an IP-restricted key's allowlist lacks (none when no allowlist is reported)."""
    if scope.ip_allowlist is None or scope.ip_restricted is False:
        return ()
    return tuple(address for address in published if address not in scope.ip_allowlist)


def _withdrawal(scope, published, now):
    return "withdrawals enabled" if scope.can_withdraw else None


def _unrestricted_trading(scope, published, now):
    return "trading enabled with no IP restriction" if scope.can_trade and scope.ip_restricted is False else None


def _egress(scope, published, now):
    missing = missing_egress(scope, published)
    return f"IP allowlist lacks published egress address {', '.join(missing)}" if missing else None


def _expiring(scope, published, now):
    if scope.expires_at is None or scope.expires_at <= now or scope.expires_at - now > EXPIRY_WARNING:
        return None
    return f"expires at {scope.expires_at.isoformat()} (in {(scope.expires_at - now).days} days)"


RULES = (
    Rule("withdrawal_enabled", "high", _withdrawal),
    Rule("trading_without_ip_restriction", "medium", _unrestricted_trading),
    Rule("egress_not_allowlisted", "warning", _egress),
    Rule(EXPIRING, "warning", _expiring),
)


def parse_levels(name: str, raw: str) -> dict[str, str]:
    """The setting's JSON object of rule name to level (or "off"); unknown names or levels are refused."""
    if not raw.strip():
        return {}
    try:
        levels = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(levels, dict):
        raise SettingsError(f"{name} must be a JSON object of rule name to level")
    rules = {rule.name for rule in RULES}
    for rule, level in levels.items():
        if rule not in rules or level not in (*LEVELS[1:], OFF):
            raise SettingsError(
                f"{name}: {rule!r}: {level!r} is not a rule ({', '.join(sorted(rules))}) with a "
                f"level ({', '.join(LEVELS[1:])} or {OFF})"
            )
    return levels


@dataclass(frozen=True)
class Risk:
    level: str  # one of LEVELS
    reason: str | None  # the matched rules' reasons, highest level first
    rules: tuple[str, ...]  # names of the rules that matched

    def rank(self) -> int:
        return LEVELS.index(self.level)


def assess(
    scope: ScopeRecord,
    now: datetime,
    published: tuple[str, ...] = (),
    overrides: Mapping[str, str] | None = None,
    skip: tuple[str, ...] = (),
) -> Risk:
    """The highest level among the rules `scope` matches at `now` (rules in `skip` left out)."""
    overrides = overrides or {}
    matched = []
    for rule in RULES:
        level = overrides.get(rule.name, rule.level)
        if level == OFF or rule.name in skip:
            continue
        reason = rule.matches(scope, published, now)
        if reason:
            matched.append((LEVELS.index(level), rule.name, reason))
    if not matched:
        return Risk("ok", None, ())
    matched.sort(key=lambda item: -item[0])
    return Risk(
        LEVELS[matched[0][0]], "; ".join(reason for _, _, reason in matched), tuple(name for _, name, _ in matched)
    )
