"""Result tables (SQLAlchemy Core) and their Alembic migrations."""
