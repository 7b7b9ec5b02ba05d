"""Alembic migrations of the result tables; applied by `credential-health db upgrade`."""
