"""Exception -> (status, error_code): most specific ccxt class first, unmapped ones unknown."""

from __future__ import annotations

import binascii

import ccxt
import pytest

from credential_health.models import MalformedSecret, SecretUnavailable, Status
from credential_health.validation.classify import ERROR_CODES, TRANSIENT_CODES, classify, is_transient

INVALID, UNKNOWN = Status.INVALID, Status.UNKNOWN

TABLE = [
    (ccxt.AccountSuspended, INVALID, "account_suspended"),
    (ccxt.AccountNotEnabled, INVALID, "permission_denied"),
    (ccxt.PermissionDenied, INVALID, "permission_denied"),
    (ccxt.AuthenticationError, INVALID, "auth_rejected"),
    (ccxt.NotSupported, INVALID, "unsupported_exchange"),
    (MalformedSecret, INVALID, "malformed_secret"),
    (binascii.Error, INVALID, "malformed_secret"),
    (SecretUnavailable, UNKNOWN, "secret_unavailable"),
    (ccxt.OnMaintenance, UNKNOWN, "maintenance"),
    (ccxt.ExchangeNotAvailable, UNKNOWN, "exchange_unavailable"),
    (ccxt.RequestTimeout, UNKNOWN, "timeout"),
    (ccxt.RateLimitExceeded, UNKNOWN, "rate_limited"),
    (ccxt.DDoSProtection, UNKNOWN, "rate_limited"),
    (ccxt.InvalidNonce, UNKNOWN, "clock_skew"),
    (ccxt.NetworkError, UNKNOWN, "network_error"),
    (ccxt.BadResponse, UNKNOWN, "unexpected"),
    (ccxt.NullResponse, UNKNOWN, "unexpected"),
    (ccxt.OperationFailed, UNKNOWN, "exchange_unavailable"),
    (ccxt.ExchangeError, UNKNOWN, "unexpected"),
    (ccxt.InsufficientFunds, UNKNOWN, "unexpected"),
    (ccxt.BadRequest, UNKNOWN, "unexpected"),
    (ccxt.BaseError, UNKNOWN, "unexpected"),
    (TimeoutError, UNKNOWN, "timeout"),
    (ConnectionResetError, UNKNOWN, "network_error"),
    (KeyError, UNKNOWN, "unexpected"),
]


@pytest.mark.parametrize(("exc_type", "status", "code"), TABLE, ids=[row[0].__name__ for row in TABLE])
def test_classification(exc_type, status, code):
    assert classify(exc_type("boom")) == (status, code)


def test_taxonomy_has_the_required_codes():
    required = {
        "ok",
        "auth_rejected",
        "permission_denied",
        "account_suspended",
        "malformed_secret",
        "unsupported_exchange",
        "timeout",
        "rate_limited",
        "exchange_unavailable",
        "maintenance",
        "clock_skew",
        "unexpected",
        "secret_unavailable",
        "transport_auth",
        "bad_response",
        "exchange_wide_failure",
    }
    assert required <= set(ERROR_CODES)
    assert set(ERROR_CODES) >= TRANSIENT_CODES


@pytest.mark.parametrize(
    "code",
    [
        "timeout",
        "rate_limited",
        "exchange_unavailable",
        "maintenance",
        "clock_skew",
        "network_error",
        "transport_auth",
        "bad_response",
    ],
)
def test_transient_codes_are_retried(code):
    assert is_transient(code)


@pytest.mark.parametrize(
    "code",
    [
        "ok",
        "auth_rejected",
        "permission_denied",
        "account_suspended",
        "malformed_secret",
        "unsupported_exchange",
        "secret_unavailable",
        "unexpected",
        "exchange_wide_failure",
    ],
)
def test_definitive_and_unexplained_codes_are_not_retried(code):
    assert not is_transient(code)


def test_no_transient_code_is_invalid():
    """A retried failure must never count toward a streak: every transient class maps to unknown."""
    for exc_type, status, code in TABLE:
        if is_transient(code):
            assert status is UNKNOWN, exc_type
