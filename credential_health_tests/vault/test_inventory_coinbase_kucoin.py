"""Coinbase and KuCoin credentials from a real OpenBao: the folders are walked, the CDP key's PEM secret and
KuCoin's passphrase survive the read, and the secrets validate against the simulator through ccxt."""

from __future__ import annotations

import pytest

from credential_health.models import Status
from credential_health.vault.auth import TokenAuth
from credential_health.vault.client import VaultClient
from credential_health.vault.inventory import CredentialStore
from credential_health_tests.fixtures.simulator import new_secret
from credential_health_tests.validation.test_behaviours import validator

MOUNT = "inventory-coinbase-kucoin"


@pytest.fixture(scope="module")
def seeded(openbao):
    """One Coinbase CDP key and one KuCoin key (with its passphrase) under tenant acme, in ccxt's field names."""
    openbao.root().sys.enable_secrets_engine("kv", path=MOUNT, options={"version": "2"})
    secrets = {"coinbase": new_secret("coinbase", "vault"), "kucoin": new_secret("kucoin", "vault")}
    for exchange, secret in secrets.items():
        openbao.put(f"tenants/acme/{exchange}/trading", secret.ccxt_config(), mount=MOUNT)
    return secrets


def test_coinbase_and_kucoin_folders_are_walked_and_read(openbao, seeded, exchange_simulator):
    store = CredentialStore(VaultClient(openbao.addr, TokenAuth(openbao.root_token)), MOUNT, "tenants")
    refs = {ref.exchange: ref for ref in store.walk()}
    assert set(refs) == {"coinbase", "kucoin"}
    read = {exchange: store.read(ref) for exchange, ref in refs.items()}
    assert read["kucoin"].password == seeded["kucoin"].password  # KuCoin's passphrase travels as ccxt's password
    # the multi-line PEM intact (the store trims the trailing newline, as every field's outer whitespace)
    assert read["coinbase"].secret == seeded["coinbase"].secret.strip()
    assert read["coinbase"].secret.startswith("-----BEGIN EC PRIVATE KEY-----\n")
    for exchange, secret in seeded.items():  # the exchange knows the keys as they were issued
        exchange_simulator.set_key(exchange, secret.api_key, secret.secret, passphrase=secret.password or "")
    results = validator(exchange_simulator.urls).validate_all(list(refs.values()), lambda ref: read[ref.exchange])
    assert {(r.ref.exchange, r.status, r.error_code) for r in results} == {
        ("coinbase", Status.VALID, "ok"),
        ("kucoin", Status.VALID, "ok"),
    }


def test_kucoin_without_its_passphrase_is_a_malformed_secret(openbao, seeded, exchange_simulator):
    """ccxt requires `password` for KuCoin: a Vault secret without it can never sign, so the check says so."""
    secret = seeded["kucoin"]
    openbao.put("tenants/globex/kucoin/trading", {"apiKey": secret.api_key, "secret": secret.secret}, mount=MOUNT)
    store = CredentialStore(VaultClient(openbao.addr, TokenAuth(openbao.root_token)), MOUNT, "tenants")
    ref = next(ref for ref in store.walk() if ref.tenant_id == "globex")
    [result] = validator(exchange_simulator.urls).validate_all([ref], store.read)
    assert (result.status, result.error_code) == (Status.INVALID, "malformed_secret")
    assert "password" in result.error_message
