"""The credential inventory: who has which key where, found by LISTing Vault; values are read only just in time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from credential_health.models import CredentialRef, ExchangeSecret, MalformedSecret, SecretUnavailable
from credential_health.vault import paths
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import NotFound
from credential_health.vault.walk import run_coroutine, walk_tree

log = logging.getLogger(__name__)

# Field names are ccxt's own, so a secret maps onto an exchange instance without translation.
REQUIRED_FIELDS = ("apiKey", "secret")
OPTIONAL_FIELDS = ("password", "uid")


@dataclass
class CredentialStore:
    """Credentials under {mount}/{tenants_path}/{tenant_id}/{exchange}/{credential_type} in KV v2."""

    client: VaultClient
    mount: str = "secret"
    tenants_path: str = "tenants"
    walk_concurrency: int = 32
    detailed_metadata: bool | None = None  # None: use OpenBao's detailed-metadata LIST when the server has it

    def walk(self) -> list[CredentialRef]:
        """Every credential whose current version can be read, by LIST and metadata only (never a value), sorted.

        One LIST per tenant and per exchange folder, run concurrently (the walk is bound by round trips). A
        secret whose current version is soft-deleted or destroyed is left out, like a removed one: its name
        stays in LIST, but a read would find nothing. Its metadata comes with the LIST on OpenBao
        (detailed-metadata) and from one metadata read per secret elsewhere.
        """
        walk = run_coroutine(
            walk_tree(
                self.client,
                self.mount,
                self.tenants_path,
                depth=3,
                concurrency=self.walk_concurrency,
                detailed=self.detailed_metadata,
            )
        )
        if walk.skipped:
            log.warning("skipped %d entries not at {tenant}/{exchange}/{credential_type} depth", walk.skipped)
        if walk.deleted:
            log.info("left out %d credentials whose current version is deleted or destroyed", walk.deleted)
        return sorted(
            CredentialRef(
                tenant_id=t, exchange=e, credential_type=c, version=state.version, updated_time=state.updated_time
            )
            for (t, e, c), state in walk.leaves
        )

    def read(self, ref: CredentialRef) -> ExchangeSecret:
        """Read one credential just in time; MalformedSecret names a missing field, never a value."""
        try:
            data = self.client.read(self.mount, self.secret_path(ref))
        except NotFound:
            raise SecretUnavailable(f"no current version of {ref.path} in Vault") from None
        return secret_from_data(ref, data)

    def exists(self, ref: CredentialRef) -> bool:
        """Whether a credential is stored at `ref`, by LISTing its folder (never reading a value)."""
        folder = paths.exchange_folder(self.tenants_path, ref.tenant_id, ref.exchange)
        return ref.credential_type in self.client.list_keys(self.mount, folder)

    def secret_path(self, ref: CredentialRef) -> str:
        return paths.credential(self.tenants_path, ref.tenant_id, ref.exchange, ref.credential_type)


def secret_from_data(ref: CredentialRef, data: dict) -> ExchangeSecret:
    """The secret in a KV v2 value; MalformedSecret names a missing field, never a value."""
    for name in REQUIRED_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MalformedSecret(f"secret at {ref.path} has no usable {name!r} field")
    for name in OPTIONAL_FIELDS:
        if data.get(name) is not None and not isinstance(data.get(name), str):
            raise MalformedSecret(f"secret at {ref.path} has a non-text {name!r} field")
    return ExchangeSecret(
        api_key=data["apiKey"].strip(),
        secret=data["secret"].strip(),
        password=data.get("password") or None,
        uid=data.get("uid") or None,
    )
