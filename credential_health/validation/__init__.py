"""Exchange credential validation: the ccxt engine, outcome classification, redaction and request pacing."""

from credential_health.validation.classify import ERROR_CODES, TRANSIENT_CODES
from credential_health.validation.validator import ExchangeValidator

__all__ = ["ERROR_CODES", "TRANSIENT_CODES", "ExchangeValidator"]
