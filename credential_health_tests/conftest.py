"""Shared fixtures. Fixture modules live in credential_health_tests/fixtures/, one per real component."""

import os

# The suite's windows are fixed dates in 2026; pinned before any test imports the partitions definition
# (and inherited by the CLI, demo and daemon subprocesses). Tests of the default set their own environment.
os.environ.setdefault("CREDENTIAL_HEALTH_FIRST_WINDOW", "2026-01-01")

pytest_plugins = [
    "credential_health_tests.fixtures.services",
    "credential_health_tests.fixtures.simulator",
    "credential_health_tests.fixtures.webhook_receiver",
    "credential_health_tests.fixtures.pipeline",
    "credential_health_tests.fixtures.marks",
]
