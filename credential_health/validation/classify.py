"""Map an exception raised during one check to a status and a stable error code."""

from __future__ import annotations

import binascii

import ccxt

from credential_health.models import MalformedSecret, SecretUnavailable, Status

OK = "ok"
AUTH_REJECTED = "auth_rejected"
PERMISSION_DENIED = "permission_denied"
ACCOUNT_SUSPENDED = "account_suspended"
MALFORMED_SECRET = "malformed_secret"
UNSUPPORTED_EXCHANGE = "unsupported_exchange"
SECRET_UNAVAILABLE = "secret_unavailable"
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
EXCHANGE_UNAVAILABLE = "exchange_unavailable"
MAINTENANCE = "maintenance"
CLOCK_SKEW = "clock_skew"
NETWORK_ERROR = "network_error"
UNEXPECTED = "unexpected"

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

# Codes retried inside one check; every other code is final at once (an invalid key never gets better).
TRANSIENT_CODES = frozenset({TIMEOUT, RATE_LIMITED, EXCHANGE_UNAVAILABLE, MAINTENANCE, CLOCK_SKEW, NETWORK_ERROR})

ERROR_CODES = (
    OK, AUTH_REJECTED, PERMISSION_DENIED, ACCOUNT_SUSPENDED, MALFORMED_SECRET, UNSUPPORTED_EXCHANGE,
    SECRET_UNAVAILABLE, TIMEOUT, RATE_LIMITED, EXCHANGE_UNAVAILABLE, MAINTENANCE, CLOCK_SKEW, NETWORK_ERROR,
    UNEXPECTED,
)


def classify(exc: BaseException) -> tuple[Status, str]:
    """Status and error code of an exception; anything unmapped is unknown/unexpected."""
    for exc_type, status, code in RULES:
        if isinstance(exc, exc_type):
            return status, code
    return Status.UNKNOWN, UNEXPECTED


def is_transient(code: str) -> bool:
    """Whether a failure with this code is retried within the same check."""
    return code in TRANSIENT_CODES
