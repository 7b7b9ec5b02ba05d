"""Dagster resources. Settings (and secrets such as VAULT_TOKEN) come from the environment at execution
time, never from run config; the config fields below are optional, non-secret overrides."""

from __future__ import annotations

from dagster import ConfigurableResource

from credential_health.resources.base import SettingsResource
from credential_health.resources.results_db import MESSAGE_COLUMN, ResultsDatabase, stored_row
from credential_health.resources.validator import CredentialValidator
from credential_health.resources.vault import VaultCredentialSource

__all__ = [
    "MESSAGE_COLUMN",
    "CredentialValidator",
    "ResultsDatabase",
    "SettingsResource",
    "VaultCredentialSource",
    "default_resources",
    "stored_row",
]


def default_resources() -> dict[str, ConfigurableResource]:
    """Resource keys the assets and jobs expect, bound to the real implementations."""
    return {
        "credentials": VaultCredentialSource(),
        "validator": CredentialValidator(),
        "results_db": ResultsDatabase(),
    }
