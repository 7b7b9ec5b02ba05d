"""Shared fixtures. Fixture modules live in credential_health_tests/fixtures/, one per real component."""

pytest_plugins = [
    "credential_health_tests.fixtures.services",
    "credential_health_tests.fixtures.simulator",
    "credential_health_tests.fixtures.webhook_receiver",
    "credential_health_tests.fixtures.pipeline",
]
