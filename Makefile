# Two entry points for a fresh clone: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_HOME

.PHONY: install lint test test-fast demo ui bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Static checks, all at zero findings: ruff (lint and format) over the code, tests and benches; mypy over the package.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Runs the whole test suite with line coverage of credential_health/ (fails under 90%).
test: $(STAMP)
	$(BIN)/python -m pytest --cov=credential_health --cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)

## The quick loop while editing: unit tests and SQLite; no OpenBao, PostgreSQL, Dagster runs or other processes
## (credential_health_tests/fixtures/marks.py marks those), no coverage threshold. `make test` is what CI runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not vault and not postgres" --durations=5 $(PYTEST_ARGS)

# SKIP_INSTALL=1 runs with an environment installed elsewhere (VENV=...) without touching it.
INSTALLED := $(if $(SKIP_INSTALL),,$(STAMP))

## Runs the main job on the embedded default: OpenBao, simulator and receiver on loopback, SQLite.
demo: $(INSTALLED)
	$(BIN)/python -m credential_health.demo

## The Dagster UI (webserver + daemon) on the demo's living stack: OpenBao, simulator, receiver.
## UI_PORT picks the port (default: a free one); UI_WINDOWS=N runs N windows first. Ctrl-C stops it all.
ui: $(INSTALLED)
	$(BIN)/python -m credential_health.demo.ui

bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .credential_health .dagster_home .coverage
