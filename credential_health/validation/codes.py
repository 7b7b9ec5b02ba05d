"""The machine-readable error codes a check can end with (stored in `error_code`, sent as `last_error.code`).

Kept free of ccxt so the Dagster code location and the guard can use them without importing it.
"""

from __future__ import annotations

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
# A bare HTTP 401/403/407/511 without the exchange's own error body: a proxy, captive portal or WAF answered.
TRANSPORT_AUTH = "transport_auth"
# An answer that is neither the exchange's documented account answer nor its error body (empty, truncated, HTML).
BAD_RESPONSE = "bad_response"
# Held by the exchange-wide guard: too many of an exchange's keys turned invalid in one window to believe it.
EXCHANGE_WIDE_FAILURE = "exchange_wide_failure"
# The key-information probe reports an expiry in the past: the key no longer works, whatever the balance said.
KEY_EXPIRED = "key_expired"
# The key fails and its last known IP allowlist lacks the address this check was sent from.
EGRESS_NOT_ALLOWLISTED = "egress_not_allowlisted"
UNEXPECTED = "unexpected"

# Codes retried inside one check; every other code is final at once (an invalid key never gets better).
TRANSIENT_CODES = frozenset(
    {TIMEOUT, RATE_LIMITED, EXCHANGE_UNAVAILABLE, MAINTENANCE, CLOCK_SKEW, NETWORK_ERROR, TRANSPORT_AUTH, BAD_RESPONSE}
)

# The rejections an exchange states about a key: the only codes that make a check `invalid` from its answer.
EXCHANGE_REJECTIONS = frozenset(
    {AUTH_REJECTED, PERMISSION_DENIED, ACCOUNT_SUSPENDED, KEY_EXPIRED, EGRESS_NOT_ALLOWLISTED}
)

ERROR_CODES = (
    OK,
    AUTH_REJECTED,
    PERMISSION_DENIED,
    ACCOUNT_SUSPENDED,
    MALFORMED_SECRET,
    UNSUPPORTED_EXCHANGE,
    SECRET_UNAVAILABLE,
    TIMEOUT,
    RATE_LIMITED,
    EXCHANGE_UNAVAILABLE,
    MAINTENANCE,
    CLOCK_SKEW,
    NETWORK_ERROR,
    TRANSPORT_AUTH,
    BAD_RESPONSE,
    EXCHANGE_WIDE_FAILURE,
    KEY_EXPIRED,
    EGRESS_NOT_ALLOWLISTED,
    UNEXPECTED,
)


def is_transient(code: str) -> bool:
    """Whether a failure with this code is retried within the same check."""
    return code in TRANSIENT_CODES
