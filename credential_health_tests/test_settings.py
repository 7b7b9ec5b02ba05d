"""Settings: defaults, finite ranges, checked URLs, a message naming the variable, and no secret in a repr.

The refusal tests are parametrized over every setting's variable, so a new numeric entry is covered automatically."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from credential_health.setting_parsers import shown_number
from credential_health.settings import Settings, SettingsError, variable, variables

README = Path(__file__).resolve().parents[1] / "README.md"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


NUMERIC = [known for known in variables() if _is_number(known.default)]
UNWORKABLE_NUMBERS = ["inf", "nan", "1e999", "-1", "-inf", "twelve", ""]
# (value of CREDENTIAL_HEALTH_EXCHANGE_URLS, what the message says)
MALFORMED_EXCHANGE_URLS = [
    ('{"binance": "http://"}', "with a host"),
    ('{"binance": ""}', "is empty"),
    ('{"binance": "   "}', "is empty"),
    ('{"binance": "http://api binance.com"}', "without spaces"),
    ('{"binance": "https://127.0.0.1:99999"}', "invalid port"),
    ('{"binance": "http://127.0.0.1:0/binance"}', "invalid port"),
    ('{"binance": "ftp://127.0.0.1/binance"}', "http(s) URL"),
    ('{"binance": "127.0.0.1:9000"}', "http(s) URL"),
    ('{"binanse": "http://127.0.0.1:9000/binance"}', "did you mean 'binance'"),
    ('{"binance": 3}', "must be a string"),
    ("{not json", "JSON object"),
    ('["http://127.0.0.1:9000"]', "JSON object"),
]
EXCHANGE_URLS = "CREDENTIAL_HEALTH_EXCHANGE_URLS"
# Every (variable, value) that must be refused at start-up: used here, by test_cli.py and by the Dagster load test.
UNWORKABLE = [(known.name, value) for known in NUMERIC for value in UNWORKABLE_NUMBERS] + [
    (EXCHANGE_URLS, value) for value, _ in MALFORMED_EXCHANGE_URLS
]


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
    assert settings.database_url.get_secret_value().endswith(".credential_health/credential_health.db")


def test_database_defaults_under_the_dagster_home(tmp_path):
    settings = Settings.from_env({"DAGSTER_HOME": str(tmp_path)})
    assert settings.database_url.get_secret_value() == f"sqlite:///{tmp_path}/credential_health.db"


def bounds(name: str) -> tuple[float, float] | None:
    """(minimum, maximum) of the number parsers; a custom parser may carry none."""
    return variable(name).bounds


def test_every_numeric_setting_has_a_finite_range_that_cannot_overflow():
    assert len(NUMERIC) >= 18
    now = datetime.now(timezone.utc)
    for name, parse, default in ((known.name, known.parser, known.default) for known in NUMERIC):
        with pytest.raises(SettingsError):
            parse(name, "1e12")
        if bounds(name) is None:
            continue
        minimum, maximum = bounds(name)
        assert 0 <= minimum <= parse(name, default) <= maximum < 1e7, name
        # the largest value, read as days (the coarsest unit any setting uses), still makes a valid date
        assert now - timedelta(days=maximum) < now + timedelta(days=maximum)
        assert parse(name, shown_number(minimum)) == minimum and parse(name, shown_number(maximum)) == maximum


@pytest.mark.parametrize("name, value", [pair for pair in UNWORKABLE if pair[0] != EXCHANGE_URLS])
def test_unworkable_numbers_are_refused_with_the_variable_and_its_range(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert str(error.value).startswith(name)
    if bounds(name):
        minimum, maximum = bounds(name)
        assert f"from {shown_number(minimum)} to {shown_number(maximum)}" in str(error.value)


@pytest.mark.parametrize("name", [known.name for known in NUMERIC if known.bounds])
def test_values_past_the_maximum_are_refused(name):
    with pytest.raises(SettingsError, match=re.escape(name)):
        Settings.from_env({name: str(bounds(name)[1] * 10 + 1)})


@pytest.mark.parametrize("value, message", MALFORMED_EXCHANGE_URLS)
def test_malformed_exchange_urls_are_refused(value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({EXCHANGE_URLS: value})
    assert EXCHANGE_URLS in str(error.value) and message in str(error.value)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "5", "must divide 24"),
        ("WEBHOOK_ALLOW_PRIVATE_URLS", "maybe", "true or false"),
        ("VAULT_ADDR", "vault.internal:8200", "http(s) URL"),
        ("VAULT_ADDR", "", "must not be empty"),
        ("CREDENTIAL_HEALTH_PUSHGATEWAY_URL", "http://gateway:70000", "invalid port"),
        ("VAULT_KV_MOUNT", "/", "must not be empty"),
        ("CREDENTIAL_HEALTH_DATABASE_URL", "mysql://analyst:hunter2@db/results", "SQLite or PostgreSQL"),
        ("CREDENTIAL_HEALTH_DATABASE_URL", "postgresql+nosuchdriver://analyst:hunter2@db/r", "unknown database driver"),
        ("CREDENTIAL_HEALTH_DATABASE_URL", "hunter2 is not a url", "is not a database URL"),
    ],
)
def test_other_bad_values_name_the_variable_and_never_echo_a_password(name, value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value) and message in str(error.value)
    assert "hunter2" not in str(error.value)


def test_a_password_in_an_exchange_url_is_not_echoed():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({EXCHANGE_URLS: '{"kraken": "http://proxy:hunter2@127.0.0.1:99999"}'})
    assert "invalid port" in str(error.value) and "hunter2" not in str(error.value)


def test_parsed_values():
    settings = Settings.from_env(
        {
            "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS": "12",
            EXCHANGE_URLS: json.dumps({"binance": "http://127.0.0.1:9000/binance/", "kraken": " https://k.example "}),
            "WEBHOOK_ALLOW_PRIVATE_URLS": "yes",
            "VAULT_TENANTS_PATH": "/platform/tenants/",
            "WEBHOOK_TIMEOUT_SECONDS": " 2.5 ",
            "CREDENTIAL_HEALTH_DATABASE_URL": "postgresql+psycopg2://u@db:5432/results",
        }
    )
    assert settings.check_interval_hours == 12
    assert settings.exchange_urls == {"binance": "http://127.0.0.1:9000/binance", "kraken": "https://k.example"}
    assert settings.webhook_allow_private_urls is True
    assert settings.vault_tenants_path == "platform/tenants"
    assert settings.webhook_timeout_seconds == 2.5
    assert settings.database_url.get_secret_value() == "postgresql+psycopg2://u@db:5432/results"


def test_approle_needs_both_ids():
    with pytest.raises(SettingsError, match="VAULT_SECRET_ID"):
        Settings.from_env({"VAULT_ROLE_ID": "role"})


def test_secrets_are_not_in_the_repr():
    settings = Settings.from_env(
        {
            "VAULT_TOKEN": "hvs.super-secret-token",
            "VAULT_ROLE_ID": "r",
            "VAULT_SECRET_ID": "secret-id-value",
            "CREDENTIAL_HEALTH_DATABASE_URL": "postgresql://analyst:hunter2@db/results",
        }
    )
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hvs.super-secret-token" not in shown and "secret-id-value" not in shown and "hunter2" not in shown
    assert settings.vault_token.get_secret_value() == "hvs.super-secret-token"
    assert settings.vault_auth_method == "token"


def test_the_readme_configuration_table_is_the_settings_table():
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| (.*?) \|", README.read_text(), flags=re.MULTILINE)
    documented = dict(rows)
    assert set(documented) == {known.name for known in variables()}
    for known in variables():
        assert documented[known.name] == (f"`{known.default}`" if known.default else "—"), known.name


def test_resources_read_the_settings_once_per_run_and_a_field_left_none_means_the_setting(monkeypatch, tmp_path):
    from dagster import build_init_resource_context

    from credential_health.resources import ResultsDatabase, VaultCredentialSource

    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", f"sqlite:///{tmp_path}/first.db")
    database = ResultsDatabase()
    assert database.url == f"sqlite:///{tmp_path}/first.db"
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", f"sqlite:///{tmp_path}/second.db")
    assert database.url.endswith("first.db")  # read once, not on every call
    database.setup_for_execution(build_init_resource_context())  # a new run reads its own environment
    assert database.url.endswith("second.db")
    assert ResultsDatabase(database_url=f"sqlite:///{tmp_path}/given.db").url.endswith("given.db")

    monkeypatch.setenv("VAULT_TOKEN", "t")
    monkeypatch.setenv("VAULT_KV_MOUNT", "kv")
    assert VaultCredentialSource().store.mount == "kv"
    assert VaultCredentialSource(kv_mount="other").store.mount == "other"
