"""Vault login methods: token, AppRole and Kubernetes. Each returns a token and when it expires."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import hvac

from credential_health.settings import Settings
from credential_health.vault.errors import VaultAuthError

# Log in again this long before the token's TTL runs out, so no request races the expiry.
EXPIRY_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Login:
    token: str = field(repr=False)
    expires_at: float | None  # time.monotonic() deadline; None for tokens we cannot renew by login

    def expiring(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at - EXPIRY_MARGIN_SECONDS


def _login_result(response: dict) -> Login:
    auth = response["auth"]
    ttl = auth.get("lease_duration") or 0
    return Login(token=auth["client_token"], expires_at=time.monotonic() + ttl if ttl else None)


@dataclass(frozen=True)
class TokenAuth:
    """A token given directly (VAULT_TOKEN); it cannot be renewed by logging in again."""

    token: str = field(repr=False)
    name = "token"

    def login(self, client: hvac.Client) -> Login:
        return Login(token=self.token, expires_at=None)


@dataclass(frozen=True)
class AppRoleAuth:
    role_id: str
    secret_id: str = field(repr=False)
    mount: str = "approle"
    name = "approle"

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.approle.login(
            role_id=self.role_id, secret_id=self.secret_id, mount_point=self.mount, use_token=False
        )
        return _login_result(response)


@dataclass(frozen=True)
class KubernetesAuth:
    role: str
    jwt_path: str
    mount: str = "kubernetes"
    name = "kubernetes"

    def login(self, client: hvac.Client) -> Login:
        try:
            jwt = Path(self.jwt_path).read_text().strip()
        except OSError as exc:
            raise VaultAuthError(
                f"cannot read the Kubernetes service-account token at {self.jwt_path}: {exc.strerror}"
            ) from exc
        response = client.auth.kubernetes.login(role=self.role, jwt=jwt, mount_point=self.mount, use_token=False)
        return _login_result(response)


VaultAuth = TokenAuth | AppRoleAuth | KubernetesAuth


def auth_from_settings(settings: Settings) -> VaultAuth:
    method = settings.vault_auth_method
    if method == "token":
        return TokenAuth(settings.vault_token.get_secret_value())
    if method == "approle":
        return AppRoleAuth(
            settings.vault_role_id, settings.vault_secret_id.get_secret_value(), settings.vault_approle_mount
        )
    if method == "kubernetes":
        return KubernetesAuth(settings.vault_k8s_role, settings.vault_k8s_jwt_path, settings.vault_k8s_mount)
    raise VaultAuthError("no Vault auth configured: set VAULT_TOKEN, VAULT_ROLE_ID+VAULT_SECRET_ID, or VAULT_K8S_ROLE")
