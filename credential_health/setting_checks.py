"""Checks for settings that name things: ccxt exchange ids and database URLs. Each returns the problem in words
(the caller prefixes the variable's name), or None; none echoes a password."""

from __future__ import annotations

import difflib
import functools
import importlib.util
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

DATABASE_BACKENDS = ("sqlite", "postgresql")


def without_userinfo(url: str) -> str:
    """The URL as it may be shown in a message: a user:password@ part is masked."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@functools.lru_cache(maxsize=1)
def ccxt_exchange_ids() -> frozenset[str]:
    """ccxt's exchange ids: one module per exchange in the ccxt package (listed without importing ccxt,
    which takes two seconds)."""
    spec = importlib.util.find_spec("ccxt")
    folders = (spec.submodule_search_locations or []) if spec else []
    return frozenset(
        path.stem for folder in folders for path in Path(folder).glob("*.py") if not path.stem.startswith("_")
    )


def unknown_exchange(exchange: str) -> str | None:
    if exchange in ccxt_exchange_ids():
        return None
    close = difflib.get_close_matches(exchange, sorted(ccxt_exchange_ids()), n=1)
    return f"{exchange!r} is not a ccxt exchange id" + (f" (did you mean {close[0]!r}?)" if close else "")


def database_url_problem(raw: str) -> str | None:
    """What keeps `raw` from being a SQLite or PostgreSQL URL SQLAlchemy has a driver for."""
    try:
        url = make_url(raw)
    except ArgumentError:
        return "is not a database URL (expected sqlite:///PATH or postgresql+psycopg2://USER@HOST/DB)"
    if url.get_backend_name() not in DATABASE_BACKENDS:
        return f"must be a SQLite or PostgreSQL URL, got the scheme {url.drivername!r}"
    try:
        url.get_dialect()
    except NoSuchModuleError:
        return f"names an unknown database driver {url.drivername!r}"
    return None
