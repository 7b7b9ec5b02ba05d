"""Engines and schema upgrades for the result database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    delete,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url

from credential_health.storage.dialect import is_sqlite_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Not Alembic's default `alembic_version`: Dagster's PostgreSQL storage uses that one in the same schema.
VERSION_TABLE = "credential_health_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; for SQLite, the file's folder is created and WAL + a busy timeout set."""
    parsed = make_url(url)
    if is_sqlite_url(parsed):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets analysts read while a run writes; the busy timeout rides over short write locks.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: no corruption, far fewer fsyncs
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # only with an empty versions folder
        raise RuntimeError("no alembic migration found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _version_table(name: str) -> Table:
    """Alembic's own layout of a version table."""
    return Table(
        name,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{name}_pkc"),
    )


def _adopt_legacy_version_table(connection: Connection) -> None:
    """Installs from before the own version table kept the project's revision in `alembic_version`: move it over
    (leaving any other revision there, such as Dagster's, alone) before Alembic looks for it."""
    tables = set(inspect(connection).get_table_names())
    if LEGACY_VERSION_TABLE not in tables or VERSION_TABLE in tables:
        return
    ours = {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    legacy = _version_table(LEGACY_VERSION_TABLE)
    found = [v for v in connection.execute(select(legacy.c.version_num)).scalars() if v in ours]
    if not found:
        return
    table = _version_table(VERSION_TABLE)
    table.create(connection)
    connection.execute(table.insert(), [{"version_num": v} for v in found])
    connection.execute(delete(legacy).where(legacy.c.version_num.in_(found)))
    if connection.execute(select(legacy.c.version_num)).first() is None:
        legacy.drop(connection)


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to `revision` (idempotent); returns the revision now in place."""
    config = _alembic_config()
    with engine.begin() as connection:
        _adopt_legacy_version_table(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)
