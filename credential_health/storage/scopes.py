"""Reads and writes of `credential_scopes` (the current record per credential) and `credential_scope_changes`.

Written inside the transaction that stores the window's check rows (storage.window_rows), under a lock of
their own: two runs of one window, or two windows at once, take turns and the second finds nothing changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import astuple, fields

from sqlalchemy import Connection, select, tuple_

from credential_health.scopes.record import ScopeRecord
from credential_health.storage.dialect import insert_ignoring, serialize
from credential_health.storage.schema import credential_scope_changes as changes
from credential_health.storage.schema import credential_scopes as scopes
from credential_health.storage.upsert import upsert

Key = tuple[str, str, str]
KEY_NAMES = ("tenant_id", "exchange", "credential_type")
FIELDS = tuple(f.name for f in fields(ScopeRecord))
IN_CHUNK = 300
CURRENT = (
    *KEY_NAMES,
    *FIELDS,
    "risk_level",
    "risk_reason",
    "missing_egress",
    "egress_address",
    "observed_at",
    "changed_at",
    "change_id",
    "updated_at",
)


def lock(connection: Connection) -> None:
    """One scope writer at a time until the transaction ends: read-compare-write must not interleave."""
    serialize(connection, "credential_health.scopes", scopes.c.updated_at)


def to_columns(scope: ScopeRecord) -> dict:
    """The record as column values (the allowlist as a JSON array)."""
    values = dict(zip(FIELDS, astuple(scope), strict=True))
    if scope.ip_allowlist is not None:
        values["ip_allowlist"] = json.dumps(list(scope.ip_allowlist))
    return values


def from_columns(row) -> ScopeRecord:
    """The record a stored row holds."""
    values = {name: row[name] for name in FIELDS}
    if values["ip_allowlist"] is not None:
        values["ip_allowlist"] = tuple(json.loads(values["ip_allowlist"]))
    return ScopeRecord(**values)


def current(connection: Connection, keys: Iterable[Key]) -> dict[Key, dict]:
    """Stored `credential_scopes` rows of `keys`, as dicts."""
    ordered = sorted(set(keys))
    found: dict[Key, dict] = {}
    key_columns = [scopes.c[n] for n in KEY_NAMES]
    for i in range(0, len(ordered), IN_CHUNK):
        query = select(scopes).where(tuple_(*key_columns).in_(ordered[i : i + IN_CHUNK]))
        found.update({tuple(row[n] for n in KEY_NAMES): dict(row) for row in connection.execute(query).mappings()})
    return found


def change_id(key: Key, previous: str | None, scope: ScopeRecord) -> str:
    """Bounded and deterministic: the same change after the same previous one is always the same row."""
    record = json.dumps(to_columns(scope), default=str, sort_keys=True)
    return hashlib.sha256("\x1f".join((*key, previous or "", record)).encode("utf-8")).hexdigest()


def write(connection: Connection, current_rows: list[dict], change_rows: list[dict]) -> None:
    """Upsert current records and add change rows (a change row already stored is skipped)."""
    if change_rows:
        connection.execute(insert_ignoring(connection, changes, ["change_id"]), change_rows)
    upsert(
        connection,
        scopes,
        CURRENT,
        KEY_NAMES,
        [n for n in CURRENT if n not in KEY_NAMES],
        [tuple(row[n] for n in CURRENT) for row in current_rows],
    )


def history(connection: Connection, key: Key) -> list[dict]:
    """A credential's change rows, oldest first."""
    query = (
        select(changes)
        .where(*(changes.c[n] == v for n, v in zip(KEY_NAMES, key, strict=True)))
        .order_by(changes.c.observed_at)
    )
    return [dict(row) for row in connection.execute(query).mappings()]
