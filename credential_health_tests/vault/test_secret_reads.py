"""Secret reads over aiohttp (the validator's path) against a real OpenBao: the same answers as hvac's reads."""

from __future__ import annotations

import asyncio

import pytest

from credential_health.models import CredentialRef, MalformedSecret, SecretUnavailable
from credential_health.vault.auth import TokenAuth
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import VaultAuthError
from credential_health.vault.inventory import CredentialStore
from credential_health.vault.secret_reads import AsyncSecretReads

MOUNT = "secret-reads-test"
SEEDED = {
    ("acme", "binance", "trading"): {"apiKey": "AK-acme-5e1f", "secret": "SK-acme-77a0"},
    ("globex", "kraken", "trading"): {"apiKey": "AK-globex-1c3d", "secret": "SK-globex-9e8f", "password": "PW-g-2a"},
    ("zürich fonds", "kraken", "trading"): {"apiKey": "AK-zurich-4b4b", "secret": "SK-zurich-6c6c"},
    ("missing-key", "binance", "trading"): {"secret": "SK-missing-3f4a"},
    ("soft", "binance", "trading"): {"apiKey": "AK-soft-0a0a", "secret": "SK-soft-0b0b"},
}


@pytest.fixture(scope="module")
def store(openbao) -> CredentialStore:
    openbao.root().sys.enable_secrets_engine("kv", path=MOUNT, options={"version": "2"})
    for key, data in SEEDED.items():
        openbao.put("tenants/" + "/".join(key), data, mount=MOUNT)
    openbao.root().secrets.kv.v2.delete_latest_version_of_secret("tenants/soft/binance/trading", mount_point=MOUNT)
    return CredentialStore(VaultClient(openbao.addr, TokenAuth(openbao.root_token)), MOUNT, "tenants")


async def read_all(reads: AsyncSecretReads, refs: list[CredentialRef]) -> list:
    async with reads as read:
        return await asyncio.gather(*(read(ref) for ref in refs), return_exceptions=True)


def test_async_reads_answer_like_hvac_reads_per_credential(store):
    refs = [CredentialRef(*key) for key in SEEDED] + [CredentialRef("nobody", "binance", "trading")]
    seen = []
    answers = dict(zip(refs, asyncio.run(read_all(AsyncSecretReads(store, seen.append), refs)), strict=True))
    for ref in refs[:3]:
        assert answers[ref] == store.read(ref)
    assert answers[refs[1]].password == "PW-g-2a"
    assert isinstance(answers[refs[3]], MalformedSecret) and "'apiKey'" in str(answers[refs[3]])
    assert "SK-missing" not in str(answers[refs[3]])
    for gone in refs[4:]:  # its current version deleted, or never stored: per credential, not a Vault failure
        assert isinstance(answers[gone], SecretUnavailable)
        with pytest.raises(SecretUnavailable):
            store.read(gone)
    assert sorted(s.api_key for s in seen) == ["AK-acme-5e1f", "AK-globex-1c3d", "AK-zurich-4b4b"]


def test_a_bad_token_is_a_vault_failure_not_a_credential_one(openbao, store):
    bad = CredentialStore(VaultClient(openbao.addr, TokenAuth("not-a-token")), MOUNT, "tenants")
    [answer] = asyncio.run(read_all(AsyncSecretReads(bad), [CredentialRef("acme", "binance", "trading")]))
    assert isinstance(answer, VaultAuthError)
