"""Just-in-time secret reads over one aiohttp session, in the validator's event loop.

hvac (over requests) costs about 1 ms of CPU per read, taken from the thread that also drives the exchange
checks; 10k of them were a third of a window's validation step. One aiohttp session in the checks' own loop
reads the same secret for a fraction of that and overlaps the reads with the checks. Errors map like hvac's.
"""

from __future__ import annotations

from collections.abc import Callable

from credential_health.models import CredentialRef, ExchangeSecret, SecretUnavailable
from credential_health.vault import paths
from credential_health.vault.inventory import CredentialStore, secret_from_data
from credential_health.vault.walk import AsyncLister


class AsyncSecretReads:
    """`async with AsyncSecretReads(store) as read: secret = await read(ref)`; one session per `async with`."""

    def __init__(
        self, store: CredentialStore, on_secret: Callable[[ExchangeSecret], None] | None = None, concurrency: int = 64
    ):
        self.store = store
        self.on_secret = on_secret  # e.g. the run's secret digests, for the no-secret-material scan
        self.concurrency = concurrency
        self._lister: AsyncLister | None = None

    async def __aenter__(self) -> Callable:
        self._lister = AsyncLister(self.store.client, self.store.mount, self.concurrency)
        await self._lister.__aenter__()
        return self.read

    async def __aexit__(self, *exc) -> None:
        if self._lister is not None:
            await self._lister.__aexit__(*exc)

    async def read(self, ref: CredentialRef) -> ExchangeSecret:
        """One secret; MalformedSecret / SecretUnavailable for this credential, VaultError for Vault itself."""
        api_path = paths.data(self.store.mount, self.store.secret_path(ref))
        assert self._lister is not None  # opened by __aenter__
        body = await self._lister._authorized("read", api_path, "", '["read"]', "")  # same package's helper
        if body is None:  # absent, or its current version deleted or destroyed (KV v2 answers 404)
            raise SecretUnavailable(f"no current version of {ref.path} in Vault")
        secret = secret_from_data(ref, (body.get("data") or {}).get("data") or {})
        if self.on_secret is not None:
            self.on_secret(secret)
        return secret
