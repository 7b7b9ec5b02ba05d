"""The result-database resource: window writes, the rollup, manual checks and status reads on the result tables."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta, timezone

from dagster import InitResourceContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine, text

from credential_health import rollup
from credential_health.models import CheckResult, CredentialRef, Source, Status
from credential_health.partitions import CHECK_INTERVAL
from credential_health.resources.base import SettingsResource
from credential_health.scopes.audit import ScopeAudit, ScopePolicy
from credential_health.storage import results, window_rows
from credential_health.storage.database import make_engine, upgrade


class ResultsDatabase(SettingsResource):
    """The result tables (SQLite or PostgreSQL) at CREDENTIAL_HEALTH_DATABASE_URL, and the settings of the
    rollup and retention that work on them."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; None: CREDENTIAL_HEALTH_DATABASE_URL "
        "(preferred: a URL here, with any password in it, shows in run config).",
    )
    migrate: bool = Field(default=True, description="Apply pending Alembic migrations when a run starts (idempotent).")
    batch_rows: int = Field(
        default=window_rows.BATCH_ROWS, ge=1, description="A window's rows are written in transactions of this many."
    )

    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        super().setup_for_execution(context)
        self._engine = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def url(self) -> str:
        """The database URL in effect: the field when set, else the setting."""
        return self.database_url or self.settings.database_url.get_secret_value()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = make_engine(self.url)
            if self.migrate:
                upgrade(engine)
            self._engine = engine
        return self._engine

    def replace_window(self, window_start: datetime, checks: list[CheckResult], run_id: str | None) -> int:
        """Store the window's scheduled checks in one transaction (one row per credential; late ones flagged)."""
        return results.replace_window(
            self.engine, window_start, window_start + CHECK_INTERVAL, checks, run_id, self.late_after
        )

    def reach(self) -> None:
        """Connect (and migrate) now, so a database problem surfaces before any exchange call."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def run_checks(
        self, window_start: datetime, run_id: str | None, keys: Collection[rollup.Key] | None = None
    ) -> list[CheckResult]:
        """The window's scheduled checks stored by run `run_id` (an earlier attempt of a retried step; None: any
        run), of the credentials in `keys` if given."""
        return [
            CheckResult(
                CredentialRef(r["tenant_id"], r["exchange"], r["credential_type"]),
                Status(r["status"]),
                r["error_code"],
                r["error_message"],
                r["checked_at"],
                r["duration_ms"],
                r["attempts"],
                egress_address=r.get("egress_address") or "",  # a guard rewrite keeps the address the check used
            )
            for r in window_rows.run_rows(self.engine, window_start, run_id, keys)
        ]

    def window_writer(self, window_start: datetime, run_id: str | None) -> window_rows.WindowWriter:
        """Writes the window's scheduled checks in batches as they finish."""
        late_after = self.late_after
        return window_rows.WindowWriter(
            self.engine,
            window_start,
            lambda check: stored_row(check, window_start, Source.SCHEDULED, run_id, late_after),
            batch_rows=self.batch_rows,
            policy=ScopePolicy.from_settings(self.settings),
        )

    def drop_absent(self, window_start: datetime, inventory: set[rollup.Key]) -> int:
        return window_rows.drop_absent(self.engine, window_start, inventory)

    def rollup_window(self, window_start: datetime, inventory: set[rollup.Key] | None) -> rollup.RollupSummary:
        """Fold the window's scheduled checks into credential_status, episodes and the outbox, in one transaction."""
        with self.engine.begin() as connection:
            return rollup.apply_window(
                connection,
                window_start,
                _now(),
                inventory,
                self.settings.consecutive_failures_before_alert,
                self.spacing,
            )

    def record_manual(self, check: CheckResult, window_start: datetime, run_id: str | None) -> rollup.RollupSummary:
        """Store one manual check and fold it into that credential's status (and episode), in one transaction."""
        row = stored_row(check, window_start, Source.MANUAL, run_id)
        with self.engine.begin() as connection:  # the scope audit first: it may re-code an egress failure
            [row] = ScopeAudit(connection, ScopePolicy.from_settings(self.settings), _now()).run(
                [row], {check.ref.key: check.scope} if check.scope is not None else {}
            )
            event = rollup.Event(
                row["checked_at"],
                row["source"],
                window_start,
                row["checked_at"],
                row["status"],
                row["error_code"],
                row["error_message"],
            )
            results.insert_rows(connection, [row])
            return rollup.apply_events(
                connection,
                {check.ref.key: [event]},
                _now(),
                None,
                self.settings.consecutive_failures_before_alert,
                self.spacing,
            )

    def status_rows(self, keys: Iterable[rollup.Key] | None = None) -> list[dict]:
        with self.engine.connect() as connection:
            return rollup.status_rows(connection, keys)

    @property
    def spacing(self) -> timedelta:
        """At most one webhook per credential within this time."""
        return timedelta(seconds=self.settings.webhook_min_interval_seconds)

    @property
    def late_after(self) -> timedelta:
        """How long after its window ends a scheduled check still counts as on time."""
        return CHECK_INTERVAL * self.settings.late_after_windows


MESSAGE_COLUMN = 500  # credential_health_checks.error_message holds this many characters


def stored_row(
    check: CheckResult, window_start: datetime, source: Source, run_id: str | None, late_after: timedelta | None = None
) -> dict:
    """The checks-table row of `check`. Its message is scrubbed of key-shaped text once more here, so no
    stored message (one that echoes an odd folder name, say) looks like a key to the secret scan. A scheduled
    check made more than `late_after` after its window ended is flagged late."""
    from credential_health.validation.redact import redact  # lazy: the package imports ccxt

    window_end = window_start + CHECK_INTERVAL
    late = source is Source.SCHEDULED and late_after is not None and check.checked_at > window_end + late_after
    row = results.check_row(check, window_start, window_end, source, run_id, late)
    if row["error_message"]:
        row["error_message"] = redact(row["error_message"], limit=MESSAGE_COLUMN)
    return row


def _now() -> datetime:
    return datetime.now(timezone.utc)
