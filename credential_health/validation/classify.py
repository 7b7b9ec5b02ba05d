"""Map one attempt's outcome (the exception, and the raw answer behind it) to a status and a stable error code.

Order: no exception needs a well-formed account answer; a failure with no HTTP answer is classified by its
exception class; an answer that is not the exchange's own error body (a proxy page, an empty or HTML body) is
never `invalid`; an exchange error body goes by ccxt's class, most specific first, and where ccxt leaves it
generic by the exchange's own code in `answers.ANSWERS`.
"""

from __future__ import annotations

import binascii
from typing import NamedTuple

import ccxt

from credential_health.models import MalformedSecret, SecretUnavailable, Status
from credential_health.validation.answers import exchange_error, is_account_answer, lookup
from credential_health.validation.codes import (  # noqa: F401 - re-exported: the codes' historical home
    ACCOUNT_SUSPENDED,
    AUTH_REJECTED,
    BAD_RESPONSE,
    CLOCK_SKEW,
    ERROR_CODES,
    EXCHANGE_UNAVAILABLE,
    EXCHANGE_WIDE_FAILURE,
    MAINTENANCE,
    MALFORMED_SECRET,
    NETWORK_ERROR,
    OK,
    PERMISSION_DENIED,
    RATE_LIMITED,
    SECRET_UNAVAILABLE,
    TIMEOUT,
    TRANSIENT_CODES,
    TRANSPORT_AUTH,
    UNEXPECTED,
    UNSUPPORTED_EXCHANGE,
    is_transient,
)

# Most specific class first: ccxt's hierarchy nests (AccountSuspended < AuthenticationError < ExchangeError,
# OnMaintenance < ExchangeNotAvailable < NetworkError < OperationFailed), so the first match wins.
RULES: tuple[tuple[type[BaseException], Status, str], ...] = (
    (MalformedSecret, Status.INVALID, MALFORMED_SECRET),
    (SecretUnavailable, Status.UNKNOWN, SECRET_UNAVAILABLE),
    # A Kraken-style secret that is not base64 fails while signing: the stored secret can never work.
    (binascii.Error, Status.INVALID, MALFORMED_SECRET),
    (ccxt.AccountSuspended, Status.INVALID, ACCOUNT_SUSPENDED),
    (ccxt.PermissionDenied, Status.INVALID, PERMISSION_DENIED),
    (ccxt.AuthenticationError, Status.INVALID, AUTH_REJECTED),
    (ccxt.NotSupported, Status.INVALID, UNSUPPORTED_EXCHANGE),
    (ccxt.OnMaintenance, Status.UNKNOWN, MAINTENANCE),
    (ccxt.ExchangeNotAvailable, Status.UNKNOWN, EXCHANGE_UNAVAILABLE),
    (ccxt.RequestTimeout, Status.UNKNOWN, TIMEOUT),
    (ccxt.RateLimitExceeded, Status.UNKNOWN, RATE_LIMITED),
    (ccxt.DDoSProtection, Status.UNKNOWN, RATE_LIMITED),
    (ccxt.InvalidNonce, Status.UNKNOWN, CLOCK_SKEW),
    (ccxt.NetworkError, Status.UNKNOWN, NETWORK_ERROR),
    (ccxt.BadResponse, Status.UNKNOWN, UNEXPECTED),
    # Bare OperationFailed is an exchange-side failure (Binance -1000/-1001, a JSON 503): worth a retry.
    (ccxt.OperationFailed, Status.UNKNOWN, EXCHANGE_UNAVAILABLE),
    (ccxt.ExchangeError, Status.UNKNOWN, UNEXPECTED),
    (TimeoutError, Status.UNKNOWN, TIMEOUT),
    (ConnectionError, Status.UNKNOWN, NETWORK_ERROR),
)

# Classes that carry a specific meaning of their own; the others are ccxt's catch-alls, decided by the table.
SPECIFIC: tuple[type[BaseException], ...] = (
    ccxt.AuthenticationError,
    ccxt.OnMaintenance,
    ccxt.ExchangeNotAvailable,
    ccxt.RequestTimeout,
    ccxt.RateLimitExceeded,
    ccxt.DDoSProtection,
    ccxt.InvalidNonce,
    ccxt.NetworkError,
)
# Statuses ccxt maps to AuthenticationError (401, 407, 511) or ExchangeNotAvailable (403) by status alone.
TRANSPORT_AUTH_STATUSES = frozenset({401, 403, 407, 511})


class Evidence(NamedTuple):
    """The raw answer of the attempt's last request: HTTP status (None: no answer arrived) and parsed body."""

    http_status: int | None = None
    body: object = None


def classify(exc: BaseException) -> tuple[Status, str]:
    """Status and error code of an exception by its class alone; anything unmapped is unknown/unexpected."""
    for exc_type, status, code in RULES:
        if isinstance(exc, exc_type):
            return status, code
    return Status.UNKNOWN, UNEXPECTED


def classify_attempt(exchange_id: str, exc: BaseException | None, evidence: Evidence) -> tuple[Status, str]:
    """Status and code of one attempt at the balance call, from what was raised and what was answered."""
    if exc is None:
        if is_account_answer(exchange_id, evidence.body):
            return Status.VALID, OK
        return Status.UNKNOWN, BAD_RESPONSE
    if evidence.http_status is None:  # nothing answered: signing, connecting or waiting failed
        return classify(exc)
    said = exchange_error(exchange_id, evidence.body)
    if said is None:  # an answer, but not the exchange's error body: a proxy, portal, CDN or broken body
        if evidence.http_status in TRANSPORT_AUTH_STATUSES:
            return Status.UNKNOWN, TRANSPORT_AUTH
        if 200 <= evidence.http_status < 300:
            return Status.UNKNOWN, BAD_RESPONSE
        status, code = classify(exc)
        return (Status.UNKNOWN, UNEXPECTED) if status is Status.INVALID else (status, code)
    row = lookup(exchange_id, said)
    if isinstance(exc, SPECIFIC):
        if isinstance(exc, ccxt.AuthenticationError) and row is not None:
            return row.status, row.error_code  # e.g. Binance -1002 is ccxt's AuthenticationError: permission
        return classify(exc)
    if row is not None:  # ccxt left it generic (Kraken's EAPI:Invalid signature is a plain ExchangeError)
        return row.status, row.error_code
    status, code = classify(exc)
    return (Status.UNKNOWN, UNEXPECTED) if status is Status.INVALID else (status, code)
