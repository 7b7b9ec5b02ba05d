"""Exchange credential validation: the ccxt engine, outcome classification, redaction and request pacing.

`ExchangeValidator` is imported on first use: ccxt takes seconds to import, and the codes, the answers table
and the exchange-wide guard are needed where the client is not (the Dagster code location, the docs).
"""

from credential_health.validation.codes import ERROR_CODES, TRANSIENT_CODES

__all__ = ["ERROR_CODES", "TRANSIENT_CODES", "ExchangeValidator"]


def __getattr__(name: str):
    if name == "ExchangeValidator":
        from credential_health.validation.validator import ExchangeValidator

        return ExchangeValidator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
