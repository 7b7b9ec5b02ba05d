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


class NotFound(VaultError):
    """Nothing is stored at that path."""


def needs(capabilities: str, policy_path: str) -> str:
    """The policy rule an operation needs, as Forbidden's hint: `capabilities ["read"] on "secret/data/x"`."""
    return f'capabilities {capabilities} on "{policy_path}"'


def for_status(status: int, operation: str, api_path: str, addr: str, policy_hint: str) -> VaultError:
    """The error for Vault's HTTP answer `status` to `operation` on `api_path`, over hvac or aiohttp alike."""
    if status == 503:
        return VaultDown(f"Vault at {addr} is sealed or unavailable (503) during {operation}")
    if status == 404:
        return NotFound(f"nothing at {api_path}")
    if status == 400:
        return VaultError(f"Vault refused {operation} on {api_path} as an invalid request")
    if status in (401, 403):
        return Forbidden(operation, api_path, policy_hint)
    return VaultError(f"Vault answered {status} to {operation} on {api_path}")


def timed_out(addr: str, operation: str, seconds: float) -> VaultTimeout:
    return VaultTimeout(f"Vault at {addr} did not answer {operation} within {seconds}s")


def unreachable(addr: str, operation: str) -> VaultUnreachable:
    return VaultUnreachable(f"cannot connect to Vault at {addr} ({operation})")
