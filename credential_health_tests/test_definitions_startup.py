"""The code location refuses settings that cannot work when it loads, naming the variable: through Dagster's own
`dagster job execute` command, in-process for every setting and as a real subprocess for each kind of bad value."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster._cli import create_dagster_cli

from credential_health_tests.test_settings import EXCHANGE_URLS, MALFORMED_EXCHANGE_URLS, NUMERIC, UNWORKABLE_NUMBERS

pytestmark = pytest.mark.slow  # Dagster loads the code location and creates an instance per case; processes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODULE = "credential_health.definitions"
EXECUTE = ["job", "execute", "-m", MODULE, "-j", "credential_health_job"]
# Each numeric setting once, the bad values taken in turn (the parser tests cover every pair); every bad URL.
ONE_EACH = [(known.name, value) for known, value in zip(NUMERIC, itertools.cycle(UNWORKABLE_NUMBERS))] + [
    (EXCHANGE_URLS, value) for value, _ in MALFORMED_EXCHANGE_URLS
]


@pytest.fixture
def fresh_definitions():
    """Make Dagster import the code location anew (as a new process would), and put the loaded one back."""
    loaded = sys.modules.pop(MODULE, None)
    yield
    sys.modules.pop(MODULE, None)
    if loaded is not None:
        sys.modules[MODULE] = loaded


@pytest.mark.parametrize("name, value", ONE_EACH)
def test_dagster_job_execute_refuses_the_setting(name, value, fresh_definitions, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(create_dagster_cli(), EXECUTE)
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "SettingsError" and str(result.exception).startswith(name)


def test_a_good_environment_loads(fresh_definitions, monkeypatch, tmp_path):
    monkeypatch.setenv(EXCHANGE_URLS, '{"kraken": "http://127.0.0.1:8765/kraken"}')
    import importlib

    assert importlib.import_module(MODULE).defs.resolve_job_def("credential_health_job")


# One real process per kind of bad value (each costs seconds of CPU: Dagster creates its instance first).
SUBPROCESS_CASES = [
    ("CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS", "inf", "must be a number from 0.1 to 300, got 'inf'"),
    ("VAULT_TIMEOUT_SECONDS", "nan", "must be a number from 0.1 to 300, got 'nan'"),
    ("CREDENTIAL_HEALTH_CHECKS_RETENTION_DAYS", "1e999", "must be a whole number from 1 to 36500"),
    ("WEBHOOK_CONCURRENCY", "-1", "must be a whole number from 1 to 1000, got -1"),
    ("WEBHOOK_BREAKER_FAILURES", "ten", "must be a whole number from 1 to 10000, got 'ten'"),
    (EXCHANGE_URLS, '{"binanse": "http://127.0.0.1:9000"}', "'binanse' is not a ccxt exchange id (did you mean"),
    (EXCHANGE_URLS, '{"binance": ""}', "the URL for 'binance' is empty"),
]


def test_the_real_dagster_job_execute_names_the_variable(tmp_path):
    """`dagster job execute` as an operator runs it: each process fails to load the definitions."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CREDENTIAL_", "VAULT_", "WEBHOOK_"))}
    base["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    homes = [tmp_path / str(index) for index in range(len(SUBPROCESS_CASES))]  # processes creating one SQLite
    for home in homes:  # instance at once would race
        home.mkdir()
    processes = [
        subprocess.Popen(
            [str(BIN / "dagster"), *EXECUTE],
            cwd=ROOT,
            text=True,
            env={**base, "DAGSTER_HOME": str(home), name: value},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for home, (name, value, _) in zip(homes, SUBPROCESS_CASES, strict=True)
    ]
    for process, (name, _, message) in zip(processes, SUBPROCESS_CASES, strict=True):
        output, _ = process.communicate(timeout=300)
        assert process.returncode != 0
        assert f"SettingsError: {name}" in output and message in output, output[-2000:]
