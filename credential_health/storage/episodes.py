"""Reads and writes of credential_failure_episodes (the rollup is its only writer)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection, select

from credential_health.episodes import Episode
from credential_health.storage.schema import credential_failure_episodes as episodes
from credential_health.storage.upsert import upsert

COLUMNS = (
    "episode_id",
    "tenant_id",
    "exchange",
    "credential_type",
    "opened_at",
    "first_failing_window",
    "closed_at",
    "close_reason",
    "windows_failed",
    "last_error_code",
    "alerted",
)
# opened_at and alerted are facts of the first sighting: a recompute never rewrites them.
UPDATED = ("first_failing_window", "closed_at", "close_reason", "windows_failed", "last_error_code")
ID_CHUNK = 500


def _episode(row) -> Episode:
    (identity, tenant, exchange, kind, opened_at, first, closed_at, reason, failed, code, alerted) = row
    return Episode(identity, (tenant, exchange, kind), first, opened_at, failed, code, closed_at, reason, alerted)


def open_episodes(connection: Connection) -> dict[tuple, list[Episode]]:
    """Every open episode, by credential (few: only credentials failing right now)."""
    found: dict[tuple, list[Episode]] = {}
    query = select(*(episodes.c[n] for n in COLUMNS)).where(episodes.c.closed_at.is_(None))
    for row in connection.execute(query):
        episode = _episode(row)
        found.setdefault(episode.key, []).append(episode)
    return found


def by_ids(connection: Connection, ids: Collection[str]) -> dict[str, Episode]:
    ordered = sorted(set(ids))
    found: dict[str, Episode] = {}
    for i in range(0, len(ordered), ID_CHUNK):
        query = select(*(episodes.c[n] for n in COLUMNS)).where(episodes.c.episode_id.in_(ordered[i : i + ID_CHUNK]))
        found.update((row[0], _episode(row)) for row in connection.execute(query))
    return found


def write(connection: Connection, rows: Iterable[Episode]) -> None:
    upsert(connection, episodes, COLUMNS, ("episode_id",), UPDATED, [e.row() for e in rows])


def credential_episodes(connection: Connection, key: tuple) -> list[dict]:
    """One credential's episodes, oldest first (for reports and tests)."""
    query = select(episodes).where(*(episodes.c[n] == v for n, v in zip(COLUMNS[1:4], key, strict=True)))
    return [dict(row._mapping) for row in connection.execute(query.order_by(episodes.c.first_failing_window))]
