"""Concurrent KV v2 LIST walk over aiohttp.

hvac (over requests) spends ~1 ms of CPU per call, which caps a threaded walk near 800 LISTs/s on
two cores (measured, see bench/inventory_walk.py); the walk is thousands of tiny LISTs, so it uses
one aiohttp session instead. Login and secret reads stay on hvac (VaultClient).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from urllib.parse import quote

import aiohttp

from credential_health.vault.client import VaultClient
from credential_health.vault.errors import (
    Forbidden,
    VaultAuthError,
    VaultDown,
    VaultError,
    VaultTimeout,
    VaultUnreachable,
)


def run_coroutine(coroutine):
    """Run a coroutine to completion from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class AsyncLister:
    """LISTs KV v2 metadata folders with one aiohttp session, errors mapped like VaultClient's."""

    def __init__(self, client: VaultClient, mount: str, concurrency: int):
        self.client = client
        self.mount = mount
        self._slots = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncLister:
        headers = {"X-Vault-Request": "true"}
        if self.client.namespace:
            headers["X-Vault-Namespace"] = self.client.namespace
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.client.timeout),
            connector=aiohttp.TCPConnector(limit=0),
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self._session.close()

    async def list_keys(self, path: str) -> list[str]:
        """Child names of {mount}/metadata/{path}, folders ending in '/'; [] when the folder is absent."""
        api_path = f"{self.mount}/metadata/{path}"
        url = f"{self.client.addr}/v1/{quote(api_path)}?list=true"
        for relogin in (False, True):
            token = await asyncio.to_thread(self.client.token, relogin) if relogin else self.client.token()
            async with self._slots:
                status, body = await self._get(url, token, api_path)
            if status == 404:
                return []
            if status == 200:
                return list(body["data"]["keys"])
            if status == 503:
                raise VaultDown(f"Vault at {self.client.addr} is sealed or unavailable (503) during list")
            if status not in (401, 403):
                raise VaultError(f"Vault answered {status} to list on {api_path}")
            if relogin or not self.client.can_relogin:
                break
        if not await asyncio.to_thread(self.client.token_is_valid):
            raise VaultAuthError("the Vault token is invalid, expired or revoked")
        raise Forbidden("list", api_path, f'capabilities ["list"] on "{api_path}/*"')

    async def _get(self, url: str, token: str, api_path: str) -> tuple[int, dict]:
        try:
            async with self._session.get(url, headers={"X-Vault-Token": token}) as response:
                body = await response.json(content_type=None) if response.status == 200 else {}
                return response.status, body
        except asyncio.TimeoutError:
            raise VaultTimeout(f"Vault at {self.client.addr} did not answer list within {self.client.timeout}s") from None
        except aiohttp.ClientConnectionError:
            raise VaultUnreachable(f"cannot connect to Vault at {self.client.addr} (list)") from None


async def walk_tree(
    client: VaultClient, mount: str, root: str, depth: int, concurrency: int
) -> tuple[list[tuple[str, ...]], int]:
    """Every leaf exactly `depth` levels below `root` as path parts, and how many misplaced entries were skipped."""
    leaves: list[tuple[str, ...]] = []
    skipped = 0

    async def visit(parts: tuple[str, ...]) -> None:
        nonlocal skipped
        for key in await lister.list_keys("/".join((root, *parts))):
            is_folder = key.endswith("/")
            name = key.rstrip("/")
            if len(parts) < depth - 1 and is_folder:
                group.create_task(visit((*parts, name)))
            elif len(parts) == depth - 1 and not is_folder:
                leaves.append((*parts, name))
            else:
                skipped += 1

    try:
        async with AsyncLister(client, mount, concurrency) as lister, asyncio.TaskGroup() as group:
            group.create_task(visit(()))
    except* VaultError as failures:
        # The first failure says what is wrong; the rest are the same failure seen by sibling LISTs.
        raise failures.exceptions[0] from None
    return leaves, skipped
