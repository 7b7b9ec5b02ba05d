"""`credential-health` help: every command and option explained, the environment each reads, `config`."""

from __future__ import annotations

from pathlib import Path

import click

from credential_health.cli import cli
from credential_health.cli.common import EXIT_CODES_HELP
from credential_health.settings import variables
from credential_health_tests.fixtures.cli import invoke

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_and_option_has_help_and_names_its_environment():
    def walk(command: click.Command, path: tuple[str, ...]):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    leaves = []
    for path, command in walk(cli, ()):
        assert command.help, path
        for param in command.params:
            assert isinstance(param, click.Argument) or param.help, (path, param.name)
        if isinstance(command, click.Group):
            continue
        leaves.append(" ".join(path))
        text = invoke(*path, "--help").stdout
        assert "Environment" in text, path
        if path != ("simulator",):
            assert "CREDENTIAL_HEALTH_DATABASE_URL" in text, path
    assert len(leaves) == 13  # config, db 2, metrics 2, simulator, webhooks 7
    readme = (ROOT / "README.md").read_text()
    for leaf in leaves:  # the README's command table names each one
        assert f"| `{leaf}" in readme or f"/ `{leaf.split()[-1]} " in readme, leaf
    for line in EXIT_CODES_HELP.splitlines()[2:]:
        code, meaning = line.split(None, 1)
        assert f"| `{code}` | {meaning.split(':')[0]}" in readme, line
    delivery = invoke("webhooks", "test", "--help").stdout
    for known in variables():
        if known.name.startswith(("VAULT_", "WEBHOOK_")):
            assert known.name in delivery
    assert "Range 0.1 to 300. Default 10." in delivery


def test_config_shows_the_values_in_effect_without_secrets(tmp_path):
    result = invoke(
        "config",
        env={
            "VAULT_TOKEN": "hvs.not-for-your-eyes",
            "DAGSTER_HOME": str(tmp_path),
            "CREDENTIAL_HEALTH_DATABASE_URL": "postgresql+psycopg2://analyst:hunter2@db/r",
            "CREDENTIAL_HEALTH_EXCHANGE_URLS": '{"kraken": "http://proxy:pw@127.0.0.1:9/k"}',
            "CREDENTIAL_HEALTH_REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0",
        },
    )
    assert result.exit_code == 0 and result.stderr == ""
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert shown["VAULT_TOKEN"] == "(set)" and shown["VAULT_SECRET_ID"] == "(unset)"
    assert shown["CREDENTIAL_HEALTH_DATABASE_URL"] == "postgresql+psycopg2://analyst:***@db/r"
    assert shown["CREDENTIAL_HEALTH_EXCHANGE_URLS"] == '{"kraken": "http://***@127.0.0.1:9/k"}'
    assert shown["CREDENTIAL_HEALTH_REDIS_URL"] == "redis://***@127.0.0.1:6379/0"
    assert shown["WEBHOOK_TIMEOUT_SECONDS"] == "10.0"
    assert "hvs.not-for-your-eyes" not in result.stdout and "hunter2" not in result.stdout
