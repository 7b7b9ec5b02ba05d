"""Step failures that carry redacted text only, sorted into infrastructure errors (retried) and final ones.

Raise what `step_failure` returns with `from None`: Dagster stores a chained exception's text as the
failure's `cause`/`context`, and an unexpected exception's text is not trusted to be free of secrets.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from alembic.util import CommandError
from dagster import Failure
from sqlalchemy.exc import SQLAlchemyError

from credential_health.secret_digests import SecretDigests
from credential_health.vault.errors import VaultError

# PEP 249 classes for a lost or refused connection (also raised by server restarts and lock timeouts);
# any other database error (ProgrammingError, IntegrityError, DataError, ...) fails the same way again.
TRANSIENT_DATABASE_ERRORS = {"OperationalError", "InterfaceError"}
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk I/O error", "unable to open database")
MESSAGE_LIMIT = 300


def database_error_kind(exc: BaseException) -> str | None:
    """ "transient", "deterministic", or None when `exc` is not a database error (SQLAlchemy's, a driver's
    own, or a failed migration)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    source = getattr(exc, "orig", None) or exc
    if type(source).__module__ == "sqlite3" and names & TRANSIENT_DATABASE_ERRORS:
        # sqlite3 calls a missing table or a syntax error an OperationalError too
        return "transient" if any(s in str(source) for s in SQLITE_TRANSIENT) else "deterministic"
    if getattr(exc, "connection_invalidated", False) or names & TRANSIENT_DATABASE_ERRORS:
        return "transient"
    if isinstance(exc, SQLAlchemyError | CommandError) or "DatabaseError" in names:
        return "deterministic"
    return None


def clean_text(exc: BaseException, digests: SecretDigests | None = None) -> str:
    """The exception's class and first line, without the SQL and parameters SQLAlchemy appends, any secret
    read in the run, or anything shaped like a key."""
    from credential_health.validation.redact import redact  # lazy: the package imports ccxt

    source = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(source).strip().splitlines()
    text = f"{type(source).__name__}: {lines[0] if lines else ''}"
    return redact(digests.mask(text) if digests is not None else text, limit=MESSAGE_LIMIT)


def step_failure(
    exc: BaseException, digests: SecretDigests | None = None, what: str = "validation step"
) -> BaseException:
    """What to raise (from None) for `exc`: our own Vault errors as they are (secret-free; the retry policy
    retries them), a retried Failure for a lost connection, a final Failure for anything else. Text from a
    database or the OS is kept (redacted); an unexpected exception's message is left out altogether."""
    if isinstance(exc, VaultError):
        return exc
    kind = database_error_kind(exc)
    if kind == "transient":
        return Failure(
            description=f"results database unavailable (retried): {clean_text(exc, digests)}", allow_retries=True
        )
    if kind == "deterministic":
        return Failure(
            description=f"results database error (not retried: it would fail again): {clean_text(exc, digests)}",
            allow_retries=False,
        )
    if isinstance(exc, ConnectionError | TimeoutError):
        return Failure(
            description=f"{what} lost a connection (retried): {clean_text(exc, digests)}", allow_retries=True
        )
    return Failure(
        description=f"{what} failed: {type(exc).__name__}{origin(exc)}; its message is withheld (an "
        f"unexpected error may quote a secret that was never handed to us)",
        allow_retries=False,
    )


def origin(exc: BaseException) -> str:
    """Where `exc` was raised (file, line, function: code, never data), for the operator to look at."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    return f" raised in {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
