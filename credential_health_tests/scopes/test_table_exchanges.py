"""The issue's exchanges are accepted end to end: the inventory walks their folders and the validator checks them."""

from __future__ import annotations

import uuid

from credential_health.models import ExchangeSecret
from credential_health.validation.instances import SUPPORTED, missing_credentials
from credential_health.vault.auth import TokenAuth
from credential_health.vault.client import VaultClient
from credential_health.vault.inventory import CredentialStore

# ccxt ids of the probed table (Coinbase Advanced is ccxt's `coinbase`); OKX and KuCoin keys carry a passphrase.
TABLE = {"binance": False, "kraken": False, "okx": True, "bybit": False, "coinbase": False, "kucoin": True}


def test_the_inventory_walks_every_exchange_folder_of_the_table(openbao):
    mount = f"table-{uuid.uuid4().hex[:8]}"
    openbao.root().sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    for exchange, passphrase in TABLE.items():
        data = {"apiKey": f"AK-{exchange}", "secret": f"SK-{exchange}", **({"password": "PW"} if passphrase else {})}
        openbao.put(f"tenants/acme/{exchange}/trading", data, mount=mount)
    store = CredentialStore(VaultClient(openbao.addr, TokenAuth(openbao.root_token)), mount, "tenants")
    refs = store.walk()
    assert sorted(ref.exchange for ref in refs) == sorted(TABLE)
    for ref in refs:  # each a ccxt exchange whose secret is complete: checked, never unsupported or malformed
        assert ref.exchange in SUPPORTED
        assert missing_credentials(ref.exchange, store.read(ref)) == []


def test_a_passphrase_exchange_without_one_is_reported_missing():
    assert missing_credentials("okx", ExchangeSecret(api_key="k", secret="s")) == ["password"]
