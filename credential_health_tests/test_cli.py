"""The documented command lines, run as an operator would: subprocesses with a temporary DAGSTER_HOME.

The Dagster commands of the README first; then `credential-health`'s error paths (exit code, one line on stderr,
no traceback), the key ones through the real console script. Its help and `webhooks` paths:
credential_health_tests/cli/."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from credential_health_tests.fixtures.cli import invoke, one_line_error
from credential_health_tests.test_settings import UNWORKABLE

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md"]
KEY = "2026-11-22-00:00"
WINDOW = (
    "dagster job execute -m credential_health.definitions -j credential_health_job "
    f"""--tags '{{"dagster/partition": "{KEY}"}}'"""
)
DG_LAUNCH = f"dg launch --job credential_health_job --partition {KEY}"
MATERIALIZE = (
    "dagster asset materialize -m credential_health.definitions --select "
    f"credential_inventory,credential_validation_results,credential_failure_rollup --partition {KEY}"
)
MANUAL = "dagster job execute -m credential_health.definitions -j check_credential_job -c check_credential.yaml"
RETENTION = "dagster job execute -m credential_health.definitions -j retention_job"
VALIDATE = ["dg check defs", "dagster definitions validate -m credential_health.definitions"]
MANUAL_CONFIG = """\
ops:
  check_credential:
    config:
      tenant_id: acme
      exchange: binance
      credential_type: trading
"""
SQLITE_ONLY = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


def documented() -> str:
    return "\n".join(path.read_text() for path in DOCS if path.exists())


@pytest.fixture(scope="module")
def pycache(tmp_path_factory) -> Path:
    """Bytecode shared by this module's subprocesses: each would otherwise compile Dagster anew (~3 s of
    CPU) where PYTHONDONTWRITEBYTECODE is set; a private prefix leaves the virtualenv untouched."""
    return tmp_path_factory.mktemp("pycache")


def command_env(dagster_home: Path, pycache: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "VIRTUAL_ENV": str(BIN.parent),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPYCACHEPREFIX": str(pycache),
    }
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start(command: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    argv = shlex.split(command)
    return subprocess.Popen(
        [str(BIN / argv[0]), *argv[1:]], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finish(process: subprocess.Popen, command: str, timeout: float = 180) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"`{command}` exited {process.returncode}:\n{output[-4000:]}"
    return output


def run(command: str, env: dict[str, str], cwd: Path = ROOT) -> str:
    return finish(start(command, env, cwd), command)


def home_with(config: Path, tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(config, home / "dagster.yaml")
    return home


def test_documented_commands_are_the_tested_ones():
    text = documented()
    for command in [WINDOW, DG_LAUNCH, MATERIALIZE, MANUAL, RETENTION, *VALIDATE]:
        assert command in text, f"not documented verbatim: {command}"
    assert MANUAL_CONFIG in text


@SQLITE_ONLY
def test_cli_window_manual_check_and_retention_on_embedded_instance(pipeline, pycache, tmp_path):
    pipeline.add("acme", "binance", behaviour="revoked")
    pipeline.add("acme", "kraken")
    env = command_env(home_with(ROOT / "deploy" / "embedded" / "dagster.yaml", tmp_path), pycache)

    run(WINDOW, env)
    # Meanwhile, on the other core (only now: several processes creating a fresh SQLite instance race).
    validations = [start(command, env, ROOT) for command in VALIDATE]
    assert {(r["exchange"], r["status"]) for r in pipeline.checks()} == {("binance", "invalid"), ("kraken", "valid")}
    run(DG_LAUNCH, env)
    run(MATERIALIZE, env)
    rows = pipeline.checks()
    assert len(rows) == 2 and len({r["run_id"] for r in rows}) == 1  # reruns replaced the window's rows
    assert pipeline.status()[("acme", "binance", "trading")]["consecutive_failures"] == 1

    (tmp_path / "check_credential.yaml").write_text(MANUAL_CONFIG)
    run(MANUAL, env, cwd=tmp_path)
    assert sorted(r["source"] for r in pipeline.checks()) == ["manual", "scheduled", "scheduled"]
    run(RETENTION, env)
    assert len(pipeline.checks()) == 3  # nothing is old enough to go

    for process, command in zip(validations, VALIDATE, strict=True):
        finish(process, command)


@pytest.fixture
def dagster_pg_database(postgres_server_url):
    """A database of its own for Dagster's storage (its alembic_version would clash with ours)."""
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    name = f"dagster_instance_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield admin.url.set(database=name)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("empty_database_url", ["postgres"], indirect=True)
def test_window_on_a_postgres_dagster_instance(pipeline, dagster_pg_database, pycache, tmp_path):
    pipeline.add("acme", "kraken", behaviour="suspended")
    env = command_env(home_with(ROOT / "dagster.yaml", tmp_path), pycache)
    url = dagster_pg_database
    env.update(
        DAGSTER_PG_USERNAME=url.username,
        DAGSTER_PG_PASSWORD=url.password or "",
        DAGSTER_PG_HOST=url.host,
        DAGSTER_PG_PORT=str(url.port or 5432),
        DAGSTER_PG_DB=url.database,
    )

    run(WINDOW, env)
    [row] = pipeline.checks()
    assert (row["status"], row["error_code"]) == ("invalid", "account_suspended")

    engine = sa.create_engine(url)
    with engine.connect() as connection:  # the run and its events live in PostgreSQL, not in DAGSTER_HOME
        runs = connection.execute(sa.text("SELECT run_id, status, run_body FROM runs")).all()
        materialized = (
            connection.execute(
                sa.text("SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert [(r.run_id, r.status) for r in runs] == [(row["run_id"], "SUCCESS")]
    assert json.loads(runs[0].run_body)["tags"]["dagster/partition"] == KEY
    assert {json.loads(k)[0] for k in materialized} == {
        "credential_inventory",
        "credential_validation_results",
        "credential_failure_rollup",
    }
    assert not (Path(env["DAGSTER_HOME"]) / "history").exists()


# --- `credential-health`: help, exit codes and one-line errors -------------------------------------------------

SETTING_PREFIXES = ("CREDENTIAL_HEALTH_", "CREDENTIAL_CONSECUTIVE_", "VAULT_", "WEBHOOK_")


def operator_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any of our settings (so the machine's own cannot leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(DAGSTER_HOME=str(tmp_path), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **settings)
    return env


def credential_health(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The installed console script, as an operator runs it."""
    return subprocess.run(
        [str(BIN / "credential-health"), *args], env=env, cwd=cwd, text=True, capture_output=True, timeout=120
    )


@pytest.mark.slow  # starts processes
def test_bare_command_help_version_and_simulator_help(tmp_path):
    env = operator_env(tmp_path)
    bare = credential_health(env=env, cwd=tmp_path)
    assert bare.returncode == 0 and bare.stderr == ""
    assert bare.stdout.startswith("Usage: credential-health") and "Exit codes:" in bare.stdout
    for code in ("1  runtime failure", "2  usage error", "3  configuration error"):
        assert code in bare.stdout
    version = credential_health("--version", env=env, cwd=tmp_path)
    assert (version.returncode, version.stdout.strip()) == (0, "credential-health, version 0.1.0")
    simulator = credential_health("simulator", "--help", env=env, cwd=tmp_path)
    assert simulator.returncode == 0 and "--latency-ms" in simulator.stdout and "Environment: none" in simulator.stdout
    unknown = credential_health("db", "downgrade", env=env, cwd=tmp_path)
    one_line_error(unknown, 2, "No such command 'downgrade'")
    assert not (tmp_path / ".credential_health").exists()


@pytest.mark.slow  # starts processes
def test_alembic_is_quiet_unless_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    env = operator_env(tmp_path, CREDENTIAL_HEALTH_DATABASE_URL=url)
    quiet = credential_health("db", "upgrade", env=env, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.startswith("database at revision")
    fresh = operator_env(tmp_path, CREDENTIAL_HEALTH_DATABASE_URL=f"sqlite:///{tmp_path / 'other.db'}")
    verbose = credential_health("-v", "db", "upgrade", env=fresh, cwd=tmp_path)
    assert verbose.returncode == 0 and "Running upgrade" in verbose.stderr


@pytest.mark.slow  # starts processes
def test_bad_settings_and_database_urls_are_one_line_with_an_exit_code(tmp_path, closed_port):
    """The key error paths through the real console script (the rest run in-process below)."""
    missing = tmp_path / "typo" / "results.db"
    cases = [
        (
            {"CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS": "inf"},
            [],
            3,
            ["CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS must be a number from 0.1 to 300"],
        ),
        ({"CREDENTIAL_HEALTH_EXCHANGE_URLS": '{"binanse": "http://127.0.0.1:1"}'}, [], 3, ["did you mean 'binance'"]),
        ({"CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{missing}"}, [], 3, [f"the folder {missing.parent} does not"]),
        ({}, ["--url", "mysql://analyst:hunter2@db/results"], 3, ["--url must be a SQLite or PostgreSQL URL"]),
        ({}, ["--url", "::not a url::"], 3, ["--url is not a database URL"]),
        (
            {},
            ["--url", f"postgresql+psycopg2://analyst:hunter2@127.0.0.1:{closed_port}/results"],
            1,
            ["cannot connect to the database", f"analyst:***@127.0.0.1:{closed_port}", "Connection refused"],
        ),
    ]
    for settings, options, exit_code, fragments in cases:
        result = credential_health("db", "upgrade", *options, env=operator_env(tmp_path, **settings), cwd=tmp_path)
        assert "hunter2" not in one_line_error(result, exit_code, *fragments)
        assert result.stdout == ""
    assert not missing.parent.exists() and not (tmp_path / ".credential_health").exists()


@pytest.mark.parametrize("name, value", UNWORKABLE)
def test_every_unworkable_setting_is_refused_by_the_cli(name, value, tmp_path):
    result = invoke("webhooks", "list", env={"DAGSTER_HOME": str(tmp_path), name: value})
    one_line_error(result, 3, name)
    assert result.stdout == "" and not list(tmp_path.iterdir())  # refused before any database was opened


def test_usage_errors_exit_2(tmp_path):
    env = {"CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{tmp_path / 'results.db'}"}
    one_line_error(invoke("webhooks", "replay", env=env), 2, "exactly one of --event and --since")
    one_line_error(invoke("webhooks", "replay", "--until", "2026-11-22", env=env), 2, "exactly one of")
    one_line_error(invoke("webhooks", "replay", "--since", "last week", env=env), 2, "not an ISO 8601 time")
    one_line_error(invoke("webhooks", "replay", "--event", "msg_nothing", env=env), 2, "no matching event")
    one_line_error(invoke("webhooks", "disable", "nobody", env=env), 2, "no webhook endpoint or tenant 'nobody'")
    one_line_error(invoke("webhooks", "test", "nobody", env=env), 2, "tenant 'nobody' has no active endpoint")
    one_line_error(
        invoke("webhooks", "add", "acme", "http://x", "--event", "credential.exploded", env=env),
        2,
        "'credential.exploded' is not one of",
    )
    one_line_error(invoke("metrics", "serve", "--port", "99999", env=env), 2, "99999 is not in the range")
    one_line_error(invoke("db", "upgrade", "--revision", "9999", env=env), 2, "Can't locate revision")


def test_runtime_failures_exit_1(tmp_path):
    not_a_database = tmp_path / "results.db"
    not_a_database.write_text("this is a text file, not a SQLite database " * 8)
    env = {"CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{not_a_database}"}
    one_line_error(invoke("webhooks", "list", env=env), 1, "cannot connect to the database", "file is not a database")
    with socket.socket() as taken:  # a port something else already listens on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = {"CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}"}
        one_line_error(invoke("metrics", "serve", "--port", port, env=env), 1, "Address already in use")


def test_only_the_default_database_folder_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CREDENTIAL_HEALTH_DATABASE_URL", raising=False)
    missing_home = tmp_path / "dagster-home-typo"
    one_line_error(
        invoke("db", "current", env={"DAGSTER_HOME": str(missing_home)}),
        3,
        f"DAGSTER_HOME: the folder {missing_home} does not exist",
    )
    assert not missing_home.exists()
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert invoke("db", "current").stdout == "empty\n"  # no setting at all: ./.credential_health/ is ours to create
    assert (tmp_path / ".credential_health" / "credential_health.db").is_file()
