"""Software-defined assets: Vault inventory -> per-window validation results -> failure rollup."""

from credential_health.assets.failure_rollup import credential_failure_rollup
from credential_health.assets.inventory import credential_inventory
from credential_health.assets.validation_results import credential_validation_results

ASSETS = [credential_inventory, credential_validation_results, credential_failure_rollup]

__all__ = ["ASSETS", "credential_failure_rollup", "credential_inventory", "credential_validation_results"]
