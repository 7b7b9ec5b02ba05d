"""`credential-health webhooks`: a missing signing secret stops `test` before anything is written, the summary
is what the outbox recorded, and Vault errors are one line with their exit code."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from credential_health_tests.fixtures.cli import invoke, one_line_error

SQLITE_ONLY = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


@pytest.fixture
def webhook_env(openbao, database_url, tmp_path) -> dict[str, str]:
    return {
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": openbao.root_token,
        "CREDENTIAL_HEALTH_DATABASE_URL": database_url,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_RETRY_ATTEMPTS": "0",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "VAULT_WEBHOOK_SECRETS_PATH": f"cli-tests/{secrets.token_hex(4)}",
        "DAGSTER_HOME": str(tmp_path),
    }


def events(database_url: str) -> list[sa.Row]:
    from credential_health.storage.schema import webhook_events

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(webhook_events.c.event_type, webhook_events.c.state)).all()
    engine.dispose()
    return rows


def test_webhooks_test_without_a_signing_secret_writes_nothing(webhook_env, openbao, webhook_receiver):
    added = invoke("webhooks", "add", "acme", webhook_receiver.url_for("/acme"), env=webhook_env)
    assert added.exit_code == 0, added.stderr
    endpoint_id = added.stdout.split()[1]
    openbao.root().secrets.kv.v2.delete_metadata_and_all_versions(
        path=f"{webhook_env['VAULT_WEBHOOK_SECRETS_PATH']}/{endpoint_id}", mount_point="secret"
    )

    result = invoke("webhooks", "test", "acme", env=webhook_env)
    one_line_error(
        result,
        1,
        f"endpoint {endpoint_id} has no signing secret in Vault",
        "nothing was sent",
        f"webhooks rotate-secret {endpoint_id}",
    )
    assert events(webhook_env["CREDENTIAL_HEALTH_DATABASE_URL"]) == [] and webhook_receiver.received() == []

    rotated = invoke("webhooks", "rotate-secret", endpoint_id, env=webhook_env)  # re-creates the lost secret
    assert rotated.exit_code == 0 and "there was no old one" in rotated.stdout
    webhook_receiver.set_secrets("/acme", [rotated.stdout.strip().rsplit(": ", 1)[1]])
    sent = invoke("webhooks", "test", "acme", env=webhook_env)
    assert (sent.exit_code, sent.stdout.strip()) == (0, "delivered 1, failed 0, pending 0")
    assert len(webhook_receiver.accepted("/acme")) == 1


def test_webhooks_test_reports_what_the_outbox_recorded(webhook_env, webhook_receiver):
    added = invoke("webhooks", "add", "acme", webhook_receiver.url_for("/acme"), env=webhook_env)
    webhook_receiver.set_secrets("/acme", [added.stdout.strip().rsplit(": ", 1)[1]])
    webhook_receiver.script("/acme", [503])
    result = invoke("webhooks", "test", "acme", env=webhook_env)
    one_line_error(result, 1, "1 of 1 events not delivered")
    assert result.stdout.strip() == "delivered 0, failed 0, pending 1"
    assert events(webhook_env["CREDENTIAL_HEALTH_DATABASE_URL"]) == [("webhook.test", "pending")]


@SQLITE_ONLY
def test_vault_errors_are_one_line(webhook_env, closed_port):
    wrong_token = {**webhook_env, "VAULT_TOKEN": "not-a-token"}
    one_line_error(invoke("webhooks", "add", "acme", "http://127.0.0.1:9/x", env=wrong_token), 3, "Vault")
    unreachable = {**webhook_env, "VAULT_ADDR": f"http://127.0.0.1:{closed_port}"}
    one_line_error(
        invoke("webhooks", "add", "acme", "http://127.0.0.1:9/x", env=unreachable),
        1,
        f"cannot connect to Vault at http://127.0.0.1:{closed_port}",
    )
    assert "not-a-token" not in invoke("webhooks", "add", "acme", "http://127.0.0.1:9/x", env=wrong_token).stderr
    assert invoke("webhooks", "list", env=webhook_env).stdout == ""  # both refusals rolled their endpoint back
