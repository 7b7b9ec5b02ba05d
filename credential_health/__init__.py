"""credential_health: validate tenants' exchange API keys kept in Vault, and alert tenants when they fail."""

__version__ = "0.1.0"
