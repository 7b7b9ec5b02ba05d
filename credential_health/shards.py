"""Coarse shards of a window: a stable hash of the credential, modulo the shard count; shards dealt to egress pools."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from credential_health.models import CredentialRef
from credential_health.settings import variable


@dataclass(frozen=True)
class ScaleSettings:
    """The settings that shape the job's graph and executor, read when the code location loads."""

    executor: str
    shards: int
    egress_pools: tuple[str, ...]
    celery_broker: str
    celery_queue: str
    redis_url: str


VARIABLES = {
    "executor": "CREDENTIAL_HEALTH_EXECUTOR",
    "shards": "CREDENTIAL_HEALTH_SHARDS",
    "egress_pools": "CREDENTIAL_HEALTH_EGRESS_POOLS",
    "celery_broker": "CREDENTIAL_HEALTH_CELERY_BROKER",
    "celery_queue": "CREDENTIAL_HEALTH_CELERY_QUEUE",
    "redis_url": "CREDENTIAL_HEALTH_REDIS_URL",
}


def scale_settings(env=None) -> ScaleSettings:
    """Only these settings (the rest, e.g. VAULT_ADDR, need not be set to build the definitions)."""
    env = os.environ if env is None else env
    return ScaleSettings(**{attr: variable(VARIABLES[attr]).parse(env) for attr in ScaleSettings.__dataclass_fields__})


def shard_of(ref: CredentialRef, shards: int) -> int:
    """The same shard for a credential in every run and process (Python's hash() differs per process)."""
    digest = hashlib.blake2b("\x1f".join(ref.key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def pool_of(shard: int, pools: tuple[str, ...]) -> str:
    """Shards are dealt round-robin to the egress pools."""
    return pools[shard % len(pools)]


def split(refs: Iterable[CredentialRef], shards: int) -> dict[int, list[CredentialRef]]:
    """The non-empty shards of the inventory, by shard number."""
    out: dict[int, list[CredentialRef]] = {}
    for ref in refs:
        out.setdefault(shard_of(ref, shards), []).append(ref)
    return dict(sorted(out.items()))


def egress_pool(pool: str) -> str:
    """The Dagster concurrency pool of an egress pool (limit 1: one shard at a time spends its budget)."""
    return f"credential_health_egress_{pool}"
