"""Settings: defaults, validation with a message naming the variable, and no secret in a repr."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credential_health.settings import SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_match_the_design():
    settings = Settings.from_env({})
    assert settings.check_interval_hours == 6
    assert settings.consecutive_failures_before_alert == 3
    assert settings.check_attempts == 3
    assert settings.webhook_timeout_seconds == 10
    assert settings.webhook_retry_attempts == 3
    assert settings.webhook_retry_backoff_base == 1
    assert settings.vault_kv_mount == "secret" and settings.vault_tenants_path == "tenants"
    assert settings.exchange_rate_limit is None and settings.exchange_urls == {}
    assert settings.webhook_allow_private_urls is False
    assert settings.database_url.endswith(".credential_health/credential_health.db")


def test_database_defaults_under_the_dagster_home(tmp_path):
    settings = Settings.from_env({"DAGSTER_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/credential_health.db"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "5", "must divide 24"),
        ("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "six", "whole number"),
        ("CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT", "0", "at least 1"),
        ("CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS", "-1", "at least 0"),
        ("WEBHOOK_TIMEOUT_SECONDS", "nan", "at least"),
        ("WEBHOOK_ALLOW_PRIVATE_URLS", "maybe", "true or false"),
        ("CREDENTIAL_HEALTH_EXCHANGE_URLS", "{not json", "JSON object"),
        ("CREDENTIAL_HEALTH_EXCHANGE_URLS", '["x"]', "JSON object"),
        ("CREDENTIAL_HEALTH_EXCHANGE_URLS", '{"binance": "ftp://x"}', "http(s) URL"),
        ("CREDENTIAL_HEALTH_EXCHANGE_URLS", '{"binance": 3}', "must be a string"),
        ("VAULT_ADDR", "vault.internal:8200", "http(s) URL"),
        ("VAULT_KV_MOUNT", "/", "must not be empty"),
    ],
)
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value) and message in str(error.value)


def test_parsed_values():
    settings = Settings.from_env({
        "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS": "12",
        "CREDENTIAL_HEALTH_EXCHANGE_URLS": '{"binance": "http://127.0.0.1:9000/binance/"}',
        "WEBHOOK_ALLOW_PRIVATE_URLS": "yes",
        "VAULT_TENANTS_PATH": "/platform/tenants/",
    })
    assert settings.check_interval_hours == 12
    assert settings.exchange_urls == {"binance": "http://127.0.0.1:9000/binance"}
    assert settings.webhook_allow_private_urls is True
    assert settings.vault_tenants_path == "platform/tenants"


def test_approle_needs_both_ids():
    with pytest.raises(SettingsError, match="VAULT_SECRET_ID"):
        Settings.from_env({"VAULT_ROLE_ID": "role"})


def test_secrets_are_not_in_the_repr():
    settings = Settings.from_env({"VAULT_TOKEN": "hvs.super-secret-token", "VAULT_ROLE_ID": "r",
                                  "VAULT_SECRET_ID": "secret-id-value"})
    assert "hvs.super-secret-token" not in repr(settings) and "secret-id-value" not in repr(settings)
    assert settings.vault_auth_method == "token"


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", README.read_text(), flags=re.MULTILINE))
    assert {name for name, *_ in SETTINGS} <= documented
