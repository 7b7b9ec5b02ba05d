"""The documented command lines, run as an operator would: subprocesses with a temporary DAGSTER_HOME."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md"]
KEY = "2026-11-22-00:00"
WINDOW = f"""dagster job execute -m credential_health.definitions -j credential_health_job --tags '{{"dagster/partition": "{KEY}"}}'"""
DG_LAUNCH = f"dg launch --job credential_health_job --partition {KEY}"
MATERIALIZE = ("dagster asset materialize -m credential_health.definitions --select "
               f"credential_inventory,credential_validation_results,credential_failure_rollup --partition {KEY}")
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
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "VIRTUAL_ENV": str(BIN.parent),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start(command: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    argv = shlex.split(command)
    return subprocess.Popen([str(BIN / argv[0]), *argv[1:]], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


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

    for process, command in zip(validations, VALIDATE):
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
    env.update(DAGSTER_PG_USERNAME=url.username, DAGSTER_PG_PASSWORD=url.password or "",
               DAGSTER_PG_HOST=url.host, DAGSTER_PG_PORT=str(url.port or 5432), DAGSTER_PG_DB=url.database)

    run(WINDOW, env)
    [row] = pipeline.checks()
    assert (row["status"], row["error_code"]) == ("invalid", "account_suspended")

    engine = sa.create_engine(url)
    with engine.connect() as connection:  # the run and its events live in PostgreSQL, not in DAGSTER_HOME
        runs = connection.execute(sa.text("SELECT run_id, status, run_body FROM runs")).all()
        materialized = connection.execute(sa.text(
            "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )).scalars().all()
    engine.dispose()
    assert [(r.run_id, r.status) for r in runs] == [(row["run_id"], "SUCCESS")]
    assert json.loads(runs[0].run_body)["tags"]["dagster/partition"] == KEY
    assert {json.loads(k)[0] for k in materialized} == {
        "credential_inventory", "credential_validation_results", "credential_failure_rollup"}
    assert not (Path(env["DAGSTER_HOME"]) / "history").exists()
