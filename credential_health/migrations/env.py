"""Alembic environment: the URL and connection come from credential_health.storage.database."""

from alembic import context

from credential_health.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through credential_health.storage.database.upgrade()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
