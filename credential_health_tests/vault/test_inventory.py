"""The inventory walk and just-in-time reads against a real OpenBao dev server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from credential_health.models import MalformedSecret, SecretUnavailable
from credential_health.vault.auth import TokenAuth
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import VaultAuthError
from credential_health.vault.inventory import CredentialStore

POLICY = Path(__file__).resolve().parents[2] / "credential_health" / "policies" / "credential-health.hcl"

SEEDED = {
    "acme/binance/trading": {"apiKey": "AK-acme-bin-trading-7f3a", "secret": "SK-acme-bin-trading-91c2"},
    "acme/binance/readonly": {"apiKey": "AK-acme-bin-readonly-1b2c", "secret": "SK-acme-bin-readonly-3d4e"},
    "acme/kraken/trading": {"apiKey": "AK-acme-krk-trading-5f6a", "secret": "SK-acme-krk-trading-7b8c"},
    "globex/kraken/trading": {
        "apiKey": "AK-globex-krk-9d0e",
        "secret": "SK-globex-krk-1f2a",
        "password": "PW-globex-3b4c",
    },
    "tenant.with.dots/binance/trading": {"apiKey": "AK-dots-5d6e", "secret": "SK-dots-7f8a"},
    "zürich-fonds/kraken/trading": {"apiKey": "AK-zurich-9b0c", "secret": "SK-zurich-1d2e"},
    "missing-key/binance/trading": {"secret": "SK-missing-3f4a"},
}
SECRET_VALUES = [value for data in SEEDED.values() for value in data.values()]
GONE = ("soft", "destroyed", "no-version")
STAYING = {("rotated", "binance", "trading"), ("undeleted", "binance", "trading"), ("expiring", "binance", "trading")}
EXPECTED = {tuple(path.split("/")) for path in SEEDED} | STAYING


@pytest.fixture(scope="module")
def seeded(openbao):
    mount = "inventory-test"
    openbao.root().sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    for path, data in SEEDED.items():
        openbao.put(f"tenants/{path}", data, mount=mount)
    # An "empty tenant": its only secret is deleted with its metadata, leaving no folder behind.
    openbao.put("tenants/gone-tenant/binance/trading", {"apiKey": "x", "secret": "y"}, mount=mount)
    openbao.root().secrets.kv.v2.delete_metadata_and_all_versions(
        "tenants/gone-tenant/binance/trading", mount_point=mount
    )
    # KV v2 keeps the name of a secret whose current version is gone: these must leave the inventory.
    kv = openbao.root().secrets.kv.v2
    for name in ("soft", "destroyed"):
        openbao.put(f"tenants/{name}/binance/trading", {"apiKey": f"AK-{name}", "secret": f"SK-{name}"}, mount=mount)
    kv.delete_latest_version_of_secret("tenants/soft/binance/trading", mount_point=mount)
    kv.destroy_secret_versions("tenants/destroyed/binance/trading", versions=[1], mount_point=mount)
    kv.update_metadata("tenants/no-version/binance/trading", mount_point=mount)  # metadata, never a version
    # ... and these stay: an old version deleted, a deletion undone, a deletion scheduled for later.
    openbao.put("tenants/rotated/binance/trading", {"apiKey": "AK-rotated-1", "secret": "SK-rotated-1"}, mount=mount)
    kv.delete_secret_versions("tenants/rotated/binance/trading", versions=[1], mount_point=mount)
    openbao.put("tenants/rotated/binance/trading", {"apiKey": "AK-rotated-2", "secret": "SK-rotated-2"}, mount=mount)
    openbao.put("tenants/undeleted/binance/trading", {"apiKey": "AK-undeleted", "secret": "SK-undel"}, mount=mount)
    kv.delete_latest_version_of_secret("tenants/undeleted/binance/trading", mount_point=mount)
    kv.undelete_secret_versions("tenants/undeleted/binance/trading", versions=[1], mount_point=mount)
    kv.update_metadata("tenants/expiring/binance/trading", delete_version_after="1h", mount_point=mount)
    openbao.put("tenants/expiring/binance/trading", {"apiKey": "AK-expiring", "secret": "SK-expiring"}, mount=mount)
    # Entries at the wrong depth are skipped, not mistaken for credentials.
    openbao.put("tenants/acme/stray-leaf", {"note": "not a credential"}, mount=mount)
    openbao.put("tenants/acme/binance/trading/too-deep", {"apiKey": "a", "secret": "b"}, mount=mount)
    return mount


def store_for(openbao, mount, token=None, detailed=None) -> CredentialStore:
    client = VaultClient(openbao.addr, TokenAuth(token or openbao.root_token))
    return CredentialStore(client, mount, "tenants", detailed_metadata=detailed)


# True: OpenBao's detailed-metadata LIST; False: one metadata read per secret, as on HashiCorp Vault.
@pytest.mark.parametrize("detailed", [None, False])
def test_walk_returns_exactly_the_live_seeded_credentials(openbao, seeded, caplog, detailed):
    caplog.set_level(logging.DEBUG)
    refs = store_for(openbao, seeded, detailed=detailed).walk()
    assert {ref.key for ref in refs} == EXPECTED
    assert len(refs) == len(EXPECTED)
    assert "skipped 2 entries" in caplog.text
    assert f"left out {len(GONE)} credentials whose current version is deleted or destroyed" in caplog.text
    versions = {ref.tenant_id: ref.version for ref in refs}
    assert versions["rotated"] == 2 and versions["acme"] == 1
    assert all(ref.updated_time is not None and ref.updated_time.tzinfo for ref in refs)
    everything = repr(refs) + caplog.text
    assert not [value for value in SECRET_VALUES if value in everything]


def test_a_secret_deleted_after_the_walk_reads_as_unavailable(openbao, seeded):
    store = store_for(openbao, seeded)
    ref = next(r for r in store.walk() if r.tenant_id == "undeleted")
    openbao.root().secrets.kv.v2.delete_latest_version_of_secret(
        "tenants/undeleted/binance/trading", mount_point=seeded
    )
    try:
        with pytest.raises(SecretUnavailable):
            store.read(ref)
        assert "undeleted" not in {r.tenant_id for r in store.walk()}
    finally:
        openbao.root().secrets.kv.v2.undelete_secret_versions(
            "tenants/undeleted/binance/trading", versions=[1], mount_point=seeded
        )


def test_walk_with_the_shipped_least_privilege_policy(openbao, seeded):
    policy = POLICY.read_text().replace("secret/", f"{seeded}/")
    token = openbao.token_with_policy("credential-health-inventory", policy)
    store = store_for(openbao, seeded, token)
    assert len(store.walk()) == len(EXPECTED)
    secret = store.read(next(r for r in store.walk() if r.tenant_id == "globex"))
    assert secret.password == "PW-globex-3b4c"


def test_read_maps_fields_and_names_missing_ones_without_values(openbao, seeded):
    store = store_for(openbao, seeded)
    refs = {ref.tenant_id: ref for ref in store.walk()}
    secret = store.read(refs["zürich-fonds"])
    assert secret.ccxt_config() == {"apiKey": "AK-zurich-9b0c", "secret": "SK-zurich-1d2e"}
    assert "AK-zurich" not in repr(secret) and "SK-zurich" not in str(secret)
    with pytest.raises(MalformedSecret, match="'apiKey'") as malformed:
        store.read(refs["missing-key"])
    assert "SK-missing" not in str(malformed.value)
    assert "soft" not in refs


def test_walk_of_an_absent_tenants_folder_is_empty(openbao, seeded):
    assert CredentialStore(VaultClient(openbao.addr, TokenAuth(openbao.root_token)), seeded, "nobody-here").walk() == []


def test_token_is_never_taken_from_the_environment(openbao, seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text(openbao.root_token)
    store = CredentialStore(VaultClient(openbao.addr, TokenAuth("")), seeded, "tenants")
    with pytest.raises(VaultAuthError):
        store.walk()
