"""Alembic environment: the URL and connection come from credential_health.storage.database."""

from alembic import context

from credential_health.storage.database import VERSION_TABLE
from credential_health.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through credential_health.storage.database.upgrade()")

# A version table of our own: Dagster's PostgreSQL storage keeps its revision in `alembic_version`, and the two
# must be able to share one database and schema.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
