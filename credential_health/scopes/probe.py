"""The scope probe: after a valid balance check, ask the same ccxt instance what the key may do and where from.

It goes through the instance's own request path, so the exchange budget is charged the endpoint's ccxt cost like
any other call. Binance's GET /sapi/v1/account/apiRestrictions costs 0.1 unit: ccxt prices the sapi pool (12,000 IP
weight a minute) on the same 1,200-units-a-minute clock as the api pool (6,000 weight, GET /api/v3/account = 4
units), so one budget in ccxt units keeps both pools under their limits whatever the mix; the sapi call spends no
api weight at Binance, so charging it there is 2.5% conservative per check. Kraken's GetApiKeyInfo costs 3 units,
as BalanceEx does: a probed Kraken check costs twice an unprobed one.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import ccxt

from credential_health.scopes.normalise import normaliser
from credential_health.scopes.record import ScopeRecord
from credential_health.validation.classify import Evidence, classify_attempt
from credential_health.validation.codes import BAD_RESPONSE
from credential_health.validation.instances import forget_last_answer, last_answer

log = logging.getLogger(__name__)

# Why a probe gave no record, beside the classified codes of the exception it raised.
NO_ANSWER = BAD_RESPONSE  # the answer was not the documented shape


def probes(exchange_id: str) -> bool:
    """Whether keys of this exchange are probed."""
    return normaliser(exchange_id) is not None


async def probe_scope(exchange, now: datetime, addresses: Iterable[str]) -> ScopeRecord:
    """The key's normalised record, egress_allowlisted filled from `addresses`; raises what the call or parse raised."""
    module = normaliser(exchange.id)
    if module is None:
        raise LookupError(f"no scope normaliser for {exchange.id}")
    forget_last_answer(exchange)  # a failure is judged by the probe's own answer, not the balance call's
    answer = await getattr(exchange, module.METHOD)(dict(module.PARAMS))
    record = module.normalise(answer, now)
    return replace(record, egress_allowlisted=egress_allowlisted(record, addresses))


def probe_cost(exchange_id: str) -> float:
    """The probe's cost in ccxt units (0 without a probe), read from ccxt's implicit API entry as its limiter does."""
    module = normaliser(exchange_id)
    if module is None:
        return 0.0
    instance = getattr(ccxt, exchange_id)()
    entry = next(klass.__dict__[module.METHOD] for klass in type(instance).__mro__ if module.METHOD in klass.__dict__)
    return instance.calculate_rate_limiter_cost(entry.api, entry.method, entry.path, dict(module.PARAMS), entry.config)


def failure_code(exc: BaseException, exchange) -> str:
    """A stable code for a failed probe: the answer's shape was wrong, or what the balance check would call it."""
    if isinstance(exc, (ValueError, KeyError, TypeError, LookupError)):
        return NO_ANSWER
    return classify_attempt(exchange.id, exc, Evidence(*last_answer(exchange)))[1]


def egress_allowlisted(record: ScopeRecord, addresses: Iterable[str]) -> bool | None:
    """True when the key takes any address or lists every one of ours; None when it cannot be told."""
    ours = [address for address in dict.fromkeys(addresses) if address]
    if record.ip_restricted is False:
        return True  # no restriction: every address, ours included, may use the key
    if record.ip_allowlist is None or not ours:
        return None
    return all(_listed(address, record.ip_allowlist) for address in ours)


def _listed(address: str, allowlist: Iterable[str]) -> bool:
    """Whether an address is in the list, entries being addresses or CIDR blocks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address in allowlist
    for entry in allowlist:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue  # an entry we cannot read lists nothing we can vouch for
    return False


async def run_probe(exchange, now: datetime, addresses: Iterable[str]) -> tuple[ScopeRecord | None, str]:
    """(record, "") or (None, failure code): a probe that fails never fails the check."""
    try:
        return await probe_scope(exchange, now, addresses), ""
    except Exception as exc:  # noqa: BLE001 - any failure only costs the record
        code = failure_code(exc, exchange)
        log.info("scope probe on %s gave no record: %s (%s)", exchange.id, code, type(exc).__name__)
        return None, code


def expired(record: ScopeRecord | None, now: datetime) -> bool:
    """Whether the exchange reports the key's expiry as already past."""
    return record is not None and record.expires_at is not None and record.expires_at <= now
