"""Webhook signing secrets, kept in Vault (outside the tenants tree), never in a table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from credential_health.notify.signing import generate_secret
from credential_health.settings import Settings
from credential_health.vault import paths
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import NotFound


class WebhookSecretStore:
    """One Vault secret per endpoint: the current `whsec_` secret and, during rotation, the previous one."""

    def __init__(self, client: VaultClient, mount: str, path: str):
        self.client = client
        self.mount = mount
        self.path = path.strip("/")

    @classmethod
    def from_settings(cls, settings: Settings, client: VaultClient | None = None) -> WebhookSecretStore:
        return cls(
            client or VaultClient.from_settings(settings), settings.vault_kv_mount, settings.vault_webhook_secrets_path
        )

    def _path(self, endpoint_id: str) -> str:
        return paths.webhook_secret(self.path, endpoint_id)

    def create(self, endpoint_id: str) -> str:
        """Make and store a new secret for a new endpoint; returned once so the operator can hand it over."""
        secret = generate_secret()
        self.client.write(self.mount, self._path(endpoint_id), {"current": secret})
        return secret

    def rotate(self, endpoint_id: str, grace: timedelta, now: datetime | None = None) -> str:
        """A new current secret; the old one keeps signing too until the grace period ends."""
        now = now or datetime.now(timezone.utc)
        stored = self.client.read(self.mount, self._path(endpoint_id))
        secret = generate_secret()
        self.client.write(
            self.mount,
            self._path(endpoint_id),
            {
                "current": secret,
                "previous": stored["current"],
                "previous_valid_until": (now + grace).isoformat(),
            },
        )
        return secret

    def signing_secrets(self, endpoint_id: str, now: datetime | None = None) -> list[str]:
        """The secrets to sign with now: current first, then the previous one while its grace lasts."""
        now = now or datetime.now(timezone.utc)
        try:
            stored = self.client.read(self.mount, self._path(endpoint_id))
        except NotFound:
            raise MissingWebhookSecret(f"no signing secret in Vault for endpoint {endpoint_id}") from None
        secrets = [stored["current"]]
        until = stored.get("previous_valid_until")
        if stored.get("previous") and until and datetime.fromisoformat(until) > now:
            secrets.append(stored["previous"])
        return secrets


class MissingWebhookSecret(LookupError):
    """The endpoint has no signing secret in Vault (deleted by hand?): re-create it with rotate-secret."""
