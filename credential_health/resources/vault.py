"""The Vault resource: tenants' credentials listed and read just in time."""

from __future__ import annotations

from collections.abc import Callable

from dagster import InitResourceContext
from pydantic import Field, PrivateAttr

from credential_health.models import CredentialRef, ExchangeSecret
from credential_health.resources.base import SettingsResource
from credential_health.vault.client import VaultClient
from credential_health.vault.inventory import CredentialStore


class VaultCredentialSource(SettingsResource):
    """Tenants' credentials in Vault KV v2: list references, read one secret just in time."""

    kv_mount: str | None = Field(default=None, description="KV v2 mount of the credentials; None: VAULT_KV_MOUNT.")
    tenants_path: str | None = Field(
        default=None, description="Folder of the tenants' secrets; None: VAULT_TENANTS_PATH."
    )

    _store: CredentialStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        super().setup_for_execution(context)
        self._store = None

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            self._store = CredentialStore(
                VaultClient.from_settings(self.settings),
                self.kv_mount or self.settings.vault_kv_mount,
                self.tenants_path or self.settings.vault_tenants_path,
            )
        return self._store

    def walk(self) -> list[CredentialRef]:
        """Every credential reference, sorted; never a secret value."""
        return self.store.walk()

    def read(self, ref: CredentialRef) -> ExchangeSecret:
        """One secret (MalformedSecret / SecretUnavailable for this credential; other errors are infrastructure)."""
        return self.store.read(ref)

    def exists(self, ref: CredentialRef) -> bool:
        """Whether a credential is stored at `ref`, without reading its value."""
        return self.store.exists(ref)

    def secret_reads(self, on_secret: Callable[[ExchangeSecret], None]):
        """What the validator reads secrets with, each secret passed to `on_secret` (e.g. SecretDigests.add):
        reads over aiohttp in the validator's loop (hvac's ~1 ms of CPU a read competes with the checks), unless
        a subclass customises `read`, which then stays the one path (on a thread pool)."""
        if type(self).read is VaultCredentialSource.read:
            from credential_health.vault.secret_reads import AsyncSecretReads  # aiohttp: only where validation runs

            return AsyncSecretReads(self.store, on_secret)
        return self.recorded(on_secret)

    def recorded(self, on_secret: Callable[[ExchangeSecret], None]) -> Callable[[CredentialRef], ExchangeSecret]:
        """`read`, each secret also passed to `on_secret` (e.g. SecretDigests.add)."""

        def fetch_secret(ref: CredentialRef) -> ExchangeSecret:
            secret = self.read(ref)
            on_secret(secret)
            return secret

        return fetch_secret
