"""Every way Vault can fail maps to a clear error naming what to fix (real OpenBao)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from credential_health.models import CredentialRef, SecretUnavailable
from credential_health.settings import Settings
from credential_health.vault.auth import AppRoleAuth, KubernetesAuth, TokenAuth, auth_from_settings
from credential_health.vault.client import VaultClient
from credential_health.vault.errors import (
    Forbidden,
    VaultAuthError,
    VaultDown,
    VaultTimeout,
    VaultUnreachable,
)
from credential_health.vault.inventory import CredentialStore
from credential_health.vault.secret_reads import AsyncSecretReads
from credential_health.vault.walk import run_coroutine
from credential_health_tests.fixtures.services import free_port

REF = CredentialRef("acme", "binance", "trading")


@pytest.fixture(scope="module")
def seeded(openbao):
    openbao.put("errors/acme/binance/trading", {"apiKey": "AK-err-1", "secret": "SK-err-1"})
    return openbao


def store(addr: str, auth, timeout: float = 5.0) -> CredentialStore:
    return CredentialStore(VaultClient(addr, auth, timeout=timeout), "secret", "errors")


def test_sealed_vault_is_vault_down(private_openbao):
    private_openbao.put("errors/acme/binance/trading", {"apiKey": "a", "secret": "b"})
    private_openbao.root().sys.seal()
    with pytest.raises(VaultDown, match="sealed"):
        store(private_openbao.addr, TokenAuth(private_openbao.root_token)).walk()
    with pytest.raises(VaultDown):
        store(private_openbao.addr, TokenAuth(private_openbao.root_token)).read(REF)


def test_revoked_token_is_an_auth_error(seeded):
    token = seeded.token_with_policy("errors-all", 'path "secret/*" { capabilities = ["read", "list"] }')
    target = store(seeded.addr, TokenAuth(token))
    assert [r.key for r in target.walk()] == [REF.key]
    seeded.root().auth.token.revoke(token)
    with pytest.raises(VaultAuthError, match="invalid, expired or revoked"):
        target.walk()
    with pytest.raises(VaultAuthError, match="invalid, expired or revoked"):
        target.read(REF)


def test_policy_without_data_access_names_path_and_capability(seeded):
    token = seeded.token_with_policy(
        "errors-metadata-only", 'path "secret/metadata/*" { capabilities = ["list", "read"] }'
    )
    target = store(seeded.addr, TokenAuth(token))
    assert len(target.walk()) == 1
    with pytest.raises(Forbidden) as denied:
        target.read(REF)
    message = str(denied.value)
    assert "secret/data/errors/acme/binance/trading" in message and '"read"' in message
    assert "credential-health.hcl" in message and token not in message


def _failure(read) -> BaseException:
    with pytest.raises(Exception) as failed:
        read()
    return failed.value


def _read_over_aiohttp(target: CredentialStore, ref: CredentialRef):
    async def read_async():
        async with AsyncSecretReads(target) as read:
            return await read(ref)

    return run_coroutine(read_async())


def test_hvac_and_aiohttp_reads_map_the_same_answer_to_the_same_error(seeded):
    """The validator reads over aiohttp, the CLI and manual checks over hvac: one mapping serves both."""
    metadata_only = seeded.token_with_policy(
        "errors-metadata-only", 'path "secret/metadata/*" { capabilities = ["list", "read"] }'
    )
    cases = [
        (store(seeded.addr, TokenAuth(metadata_only)), REF, Forbidden),
        (
            store(seeded.addr, TokenAuth(seeded.root_token)),
            CredentialRef("nobody", "binance", "trading"),
            SecretUnavailable,
        ),
        (store(f"http://127.0.0.1:{free_port()}", TokenAuth("t")), REF, VaultUnreachable),
    ]
    for target, ref, kind in cases:
        over_hvac = _failure(lambda: target.read(ref))  # noqa: B023 - called at once, within this iteration
        over_aiohttp = _failure(lambda: _read_over_aiohttp(target, ref))  # noqa: B023 - called at once
        assert type(over_hvac) is type(over_aiohttp) is kind
        assert str(over_hvac) == str(over_aiohttp)


def test_walk_needs_metadata_reads_where_it_cannot_list_detailed_metadata(seeded):
    token = seeded.token_with_policy("errors-list-only", 'path "secret/metadata/*" { capabilities = ["list"] }')
    with pytest.raises(Forbidden) as denied:
        store(seeded.addr, TokenAuth(token)).walk()
    assert "read metadata on secret/metadata/errors/acme/binance/trading" in str(denied.value)
    assert '["read"]' in str(denied.value)


def test_policy_without_list_access_is_forbidden_on_the_walk(seeded):
    token = seeded.token_with_policy("errors-read-only", 'path "secret/data/*" { capabilities = ["read"] }')
    with pytest.raises(Forbidden, match=r'"list"'):
        store(seeded.addr, TokenAuth(token)).walk()


def test_connection_refused_is_unreachable():
    addr = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VaultUnreachable, match="cannot connect"):
        store(addr, TokenAuth("t")).walk()
    with pytest.raises(VaultUnreachable):
        store(addr, TokenAuth("t")).read(REF)


def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # accepts connections, never replies
        addr = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(VaultTimeout, match="did not answer"):
            store(addr, TokenAuth("t"), timeout=0.5).walk()
        with pytest.raises(VaultTimeout):
            store(addr, TokenAuth("t"), timeout=0.5).read(REF)
        assert time.monotonic() - started < 10


@pytest.fixture
def approle(seeded):
    client = seeded.root()
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy(
        name="errors-approle", policy='path "secret/*" { capabilities = ["read", "list"] }'
    )
    client.auth.approle.create_or_update_approle(
        "credential-health", token_policies=["errors-approle"], token_ttl="6s", token_max_ttl="6s"
    )
    role_id = client.auth.approle.read_role_id("credential-health")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("credential-health")["data"]["secret_id"]
    return role_id, secret_id


def test_approle_logs_in_and_logs_in_again_after_expiry(seeded, approle):
    client = VaultClient(seeded.addr, AppRoleAuth(*approle))
    target = CredentialStore(client, "secret", "errors")
    assert target.read(REF).api_key == "AK-err-1"
    first_token = client._login.token
    time.sleep(6.5)  # the token's TTL has passed: Vault now refuses it
    assert target.read(REF).api_key == "AK-err-1"
    assert len(target.walk()) == 1
    assert client._login.token != first_token


def test_approle_relogin_on_a_revoked_token(seeded, approle):
    client = VaultClient(seeded.addr, AppRoleAuth(*approle))
    target = CredentialStore(client, "secret", "errors")
    target.read(REF)
    seeded.root().auth.token.revoke(client._login.token)
    assert len(target.walk()) == 1 and target.read(REF).secret == "SK-err-1"


def test_wrong_approle_secret_is_a_login_error(seeded, approle):
    with pytest.raises(VaultAuthError, match="approle login"):
        store(seeded.addr, AppRoleAuth(approle[0], "not-the-secret-id")).read(REF)


def test_kubernetes_auth_without_a_token_file_says_so(tmp_path):
    auth = KubernetesAuth("credential-health", str(tmp_path / "missing-jwt"))
    with pytest.raises(VaultAuthError, match="service-account token"):
        store("http://127.0.0.1:1", auth).read(REF)


def test_auth_method_chosen_from_settings():
    assert isinstance(auth_from_settings(Settings.from_env({"VAULT_TOKEN": "t"})), TokenAuth)
    approle = auth_from_settings(Settings.from_env({"VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}))
    assert isinstance(approle, AppRoleAuth) and "'s'" not in repr(approle)
    assert isinstance(auth_from_settings(Settings.from_env({"VAULT_K8S_ROLE": "k"})), KubernetesAuth)
    with pytest.raises(VaultAuthError, match="VAULT_TOKEN"):
        auth_from_settings(Settings.from_env({}))


def test_client_is_shared_safely_between_threads(seeded):
    target = store(seeded.addr, TokenAuth(seeded.root_token))
    results = []
    threads = [threading.Thread(target=lambda: results.append(target.read(REF).api_key)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["AK-err-1"] * 8
