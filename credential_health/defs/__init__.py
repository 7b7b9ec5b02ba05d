"""Dagster jobs, schedules and sensors, one module per concern (the assets live in credential_health/assets)."""
