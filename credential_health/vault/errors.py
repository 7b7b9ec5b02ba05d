"""Clear, secret-free errors for every way talking to Vault can fail."""

from __future__ import annotations


class VaultError(RuntimeError):
    """Base class: Vault could not answer what was asked."""


class VaultDown(VaultError):
    """Vault is sealed or in maintenance (HTTP 503)."""


class VaultUnreachable(VaultError):
    """No connection could be made to Vault's address."""


class VaultTimeout(VaultError):
    """Vault did not answer within the configured timeout."""


class VaultAuthError(VaultError):
    """Login failed, or the token is invalid, expired or revoked."""


class Forbidden(VaultError):
    """The token's policies do not allow this operation on this path."""

    def __init__(self, operation: str, api_path: str, policy_hint: str):
        self.operation = operation
        self.api_path = api_path
        super().__init__(
            f"Vault denied {operation} on {api_path}: the token's policy needs {policy_hint} "
            f"(see credential_health/policies/credential-health.hcl)"
        )
