"""Concurrent KV v2 LIST walk over aiohttp, keeping only secrets whose current version can be read.

hvac (over requests) spends ~1 ms of CPU per call, which caps a threaded walk near 800 LISTs/s on
two cores (measured, see bench/inventory_walk.py); the walk is thousands of tiny LISTs, so it uses
one aiohttp session instead. Login and secret reads stay on hvac (VaultClient).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

import aiohttp

from credential_health.vault import paths
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import (
    Forbidden,
    NotFound,
    VaultError,
    for_status,
    needs,
    timed_out,
    unreachable,
)
from credential_health.vault.versions import CurrentVersion, current_version


def run_coroutine(coroutine):
    """Run a coroutine to completion from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class AsyncLister:
    """KV v2 metadata LISTs and reads over one aiohttp session, errors mapped like VaultClient's."""

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
        if self._session is not None:
            await self._session.close()

    async def list_keys(self, path: str) -> list[str]:
        """Child names of {mount}/metadata/{path}, folders ending in '/'; [] when the folder is absent."""
        body = await self._authorized("list", paths.metadata(self.mount, path), "?list=true", '["list"]', "/*")
        return list(body["data"]["keys"]) if body else []

    async def list_detailed(self, path: str) -> dict[str, dict]:
        """OpenBao's LIST {mount}/detailed-metadata/{path}: child names with each secret's metadata ({} for a
        folder); {} when the folder is absent."""
        body = await self._authorized("list", paths.detailed_metadata(self.mount, path), "?list=true", '["list"]', "/*")
        if not body:
            return {}
        info = body["data"].get("key_info") or {}
        return {key: info.get(key) or {} for key in body["data"].get("keys", [])}

    async def probe_detailed(self, path: str) -> dict[str, dict] | None:
        """list_detailed(path) if this server and token answer it; None otherwise (HashiCorp Vault has no
        detailed-metadata endpoint; a policy may not grant it), without raising."""
        api_path = paths.detailed_metadata(self.mount, path)
        status, body = await self._get(
            f"{self.client.addr}/v1/{quote(api_path)}?list=true", self.client.token(), "list"
        )
        data = body.get("data") if status == 200 else None
        if not isinstance(data, dict) or not isinstance(data.get("key_info"), dict):
            return None
        return {key: data["key_info"].get(key) or {} for key in data.get("keys", [])}

    async def metadata(self, path: str) -> dict | None:
        """GET {mount}/metadata/{path}: versions and their deletion state, never a value; None when absent."""
        body = await self._authorized("read metadata", paths.metadata(self.mount, path), "", '["read"]', "")
        return body["data"] if body else None

    async def _authorized(
        self, operation: str, api_path: str, query: str, capabilities: str, suffix: str
    ) -> dict | None:
        """The 200 body (None on 404), logging in again once on 401/403 when the auth method can; other
        answers mapped to VaultErrors as the hvac path maps them (errors.for_status)."""
        url = f"{self.client.addr}/v1/{quote(api_path)}{query}"
        for relogin in (False, True):
            token = await asyncio.to_thread(self.client.token, relogin) if relogin else self.client.token()
            status, body = await self._get(url, token, operation)
            if status == 200:
                return body
            problem = for_status(
                status, operation, api_path, self.client.addr, needs(capabilities, f"{api_path}{suffix}")
            )
            if isinstance(problem, NotFound):
                return None
            if status not in (401, 403) or relogin or not self.client.can_relogin:
                break
        if isinstance(problem, Forbidden):
            problem = await asyncio.to_thread(self.client.refused, problem)
        raise problem

    async def _get(self, url: str, token: str, operation: str) -> tuple[int, dict]:
        assert self._session is not None  # opened by __aenter__
        try:
            async with self._slots, self._session.get(url, headers={"X-Vault-Token": token}) as response:
                body = await response.json(content_type=None) if response.status == 200 else {}
                return response.status, body or {}
        except TimeoutError:
            raise timed_out(self.client.addr, operation, self.client.timeout) from None
        except aiohttp.ClientConnectionError:
            raise unreachable(self.client.addr, operation) from None


@dataclass
class Walk:
    """What a walk found: readable leaves, entries at the wrong depth, and secrets whose current version is gone."""

    leaves: list[tuple[tuple[str, ...], CurrentVersion]] = field(default_factory=list)
    skipped: int = 0
    deleted: int = 0
    detailed: bool = False  # metadata came with the LISTs (OpenBao) rather than one read per secret


async def walk_tree(
    client: VaultClient,
    mount: str,
    root: str,
    depth: int,
    concurrency: int,
    now: datetime | None = None,
    detailed: bool | None = None,
) -> Walk:
    """Every leaf exactly `depth` levels below `root` whose current version can be read.

    `detailed`: None tries OpenBao's detailed-metadata LIST first and falls back to a metadata read per
    secret; False never tries it.
    """
    now = now or datetime.now(timezone.utc)
    walk = Walk()

    def settle(parts: tuple[str, ...], metadata: dict | None) -> None:
        state = current_version(metadata, now)
        if state.live:
            walk.leaves.append((parts, state))
        else:
            walk.deleted += 1

    async def read_leaf(parts: tuple[str, ...]) -> None:
        settle(parts, await lister.metadata("/".join((root, *parts))))

    async def visit(parts: tuple[str, ...], listing: dict[str, dict] | None = None) -> None:
        path = "/".join((root, *parts))
        if listing is None and walk.detailed:
            listing = await lister.list_detailed(path)
        keys = list(listing) if listing is not None else await lister.list_keys(path)
        for key in keys:
            is_folder = key.endswith("/")
            name = key.rstrip("/")
            if len(parts) < depth - 1 and is_folder:
                group.create_task(visit((*parts, name)))
            elif len(parts) == depth - 1 and not is_folder:
                if listing is not None:
                    settle((*parts, name), listing[key])
                else:
                    group.create_task(read_leaf((*parts, name)))
            else:
                walk.skipped += 1

    try:
        async with AsyncLister(client, mount, concurrency) as lister, asyncio.TaskGroup() as group:
            first = await lister.probe_detailed(root) if detailed is not False else None
            walk.detailed = first is not None
            group.create_task(visit((), first))
    except* VaultError as failures:
        # The first failure says what is wrong; the rest are the same failure seen by sibling requests.
        raise failures.exceptions[0] from None
    return walk
