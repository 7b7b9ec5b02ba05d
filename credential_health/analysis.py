"""The result tables as pandas DataFrames, and the questions analysts ask of them (docs/analysts.md).

Loaders give each column its dtype from the table's definition: text as `string`, integers as nullable
`Int64`, booleans as nullable `boolean`, timestamps as timezone-aware UTC on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from credential_health.storage import schema

CHECKS, STATUS = "credential_health_checks", "credential_status"
EPISODES, DELIVERIES = "credential_failure_episodes", "webhook_delivery_log"


def _table(engine: sa.Engine, name: str) -> sa.Table:
    """The project's definition of the table, or the database's own when this code predates it."""
    known = schema.metadata.tables.get(name)
    return known if known is not None else sa.Table(name, sa.MetaData(), autoload_with=engine)


def _dtype(column: sa.Column) -> str | None:
    kind = column.type
    if isinstance(kind, sa.DateTime) or isinstance(getattr(kind, "impl", None), sa.DateTime):
        return "utc"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.Integer):
        return "Int64"
    if isinstance(kind, sa.String):  # Text is a String
        return "string"
    return None


def _frame(engine: sa.Engine, table: sa.Table, where=None, order_by=()) -> pd.DataFrame:
    query = sa.select(table)
    if where is not None:
        query = query.where(where)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(*order_by)).all()
    frame = pd.DataFrame.from_records(rows, columns=[c.name for c in table.columns])
    for column in table.columns:
        dtype = _dtype(column)
        if dtype == "utc":  # naive values (SQLite without the project's column type) are UTC already
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
        elif dtype is not None:
            frame[column.name] = frame[column.name].astype(dtype)
    return frame


def load_checks(engine: sa.Engine, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """Every stored check (scheduled and manual), optionally only windows starting in [since, until)."""
    table = _table(engine, CHECKS)
    bounds = [table.c.window_start >= since] if since else []
    bounds += [table.c.window_start < until] if until else []
    return _frame(engine, table, sa.and_(*bounds) if bounds else None, (table.c.window_start, table.c.id))


def load_status(engine: sa.Engine) -> pd.DataFrame:
    """One row per credential: last status and error, streak, failing since, alerted, still in the inventory."""
    table = _table(engine, STATUS)
    return _frame(engine, table, order_by=(table.c.tenant_id, table.c.exchange, table.c.credential_type))


def load_episodes(engine: sa.Engine) -> pd.DataFrame:
    """One row per failure episode: opened when a streak reached the alert threshold, closed at recovery."""
    table = _table(engine, EPISODES)
    return _frame(engine, table, order_by=(table.c.opened_at, table.c.episode_id))


def load_deliveries(engine: sa.Engine, since: datetime | None = None) -> pd.DataFrame:
    """Every webhook delivery attempt the retention job has kept, optionally only those made since `since`."""
    table = _table(engine, DELIVERIES)
    return _frame(engine, table, table.c.attempted_at >= since if since else None, (table.c.attempted_at, table.c.id))


def failure_rate_by_exchange_window(checks: pd.DataFrame) -> pd.DataFrame:
    """Per window and exchange: scheduled checks, how many were invalid / unknown, and their shares."""
    scheduled = checks[checks["source"] == "scheduled"].assign(
        invalid=lambda f: (f["status"] == "invalid").astype("Int64"),
        unknown=lambda f: (f["status"] == "unknown").astype("Int64"),
    )
    rates = scheduled.groupby(["window_start", "exchange"], as_index=False).agg(
        checks=("status", "size"), invalid=("invalid", "sum"), unknown=("unknown", "sum")
    )
    rates["checks"] = rates["checks"].astype("Int64")
    rates["failure_rate"] = (rates["invalid"] / rates["checks"]).astype("Float64")
    rates["unknown_rate"] = (rates["unknown"] / rates["checks"]).astype("Float64")
    return rates.sort_values(["window_start", "exchange"], ascending=[False, True], ignore_index=True)


def time_to_recovery(episodes: pd.DataFrame) -> pd.DataFrame:
    """Recovered episodes, newest first, with the time from the start of the first failing window to recovery."""
    recovered = episodes[episodes["closed_at"].notna()]
    if "close_reason" in recovered:  # removed (left the inventory) and revised episodes did not recover
        recovered = recovered[recovered["close_reason"] == "recovered"]
    result = recovered[
        ["tenant_id", "exchange", "credential_type", "first_failing_window", "closed_at", "windows_failed"]
    ].copy()
    result["time_to_recovery"] = result["closed_at"] - result["first_failing_window"]
    result["hours_to_recovery"] = result["time_to_recovery"].dt.total_seconds() / 3600
    return result.sort_values(
        ["closed_at", "tenant_id", "exchange", "credential_type"],
        ascending=[False, True, True, True],
        ignore_index=True,
    )


def repeated_episodes(episodes: pd.DataFrame, min_episodes: int = 2) -> pd.DataFrame:
    """Tenants with at least `min_episodes` failure episodes (revised ones excluded), most episodes first."""
    kept = episodes
    if "close_reason" in kept:  # a revised episode is one that history, re-run, no longer supports
        kept = kept[kept["close_reason"].fillna("") != "revised"]
    kept = kept.assign(credential=kept["exchange"] + "/" + kept["credential_type"])
    tenants = kept.groupby("tenant_id", as_index=False).agg(
        episodes=("episode_id", "size"),
        credentials=("credential", "nunique"),
        first_opened_at=("opened_at", "min"),
        last_opened_at=("opened_at", "max"),
    )
    tenants[["episodes", "credentials"]] = tenants[["episodes", "credentials"]].astype("Int64")
    tenants = tenants[tenants["episodes"] >= min_episodes]
    return tenants.sort_values(["episodes", "tenant_id"], ascending=[False, True], ignore_index=True)
