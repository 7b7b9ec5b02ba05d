"""The validator resource: checks credentials against their exchanges (ccxt)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import Field

from credential_health.models import CheckResult, CredentialRef, ExchangeSecret
from credential_health.resources.base import SettingsResource


class CredentialValidator(SettingsResource):
    """Validates credentials against their exchanges (ccxt), configured from CREDENTIAL_HEALTH_* settings."""

    concurrency: int | None = Field(
        default=None, ge=1, description="Checks in flight at once; None: CREDENTIAL_HEALTH_CHECK_CONCURRENCY."
    )

    def validate(  # type: ignore[override]  # shadows pydantic's deprecated classmethod, never called on a resource
        self,
        refs: Iterable[CredentialRef],
        fetch_secret: Callable[[CredentialRef], ExchangeSecret],
        on_result: Callable[[CheckResult], None] | None = None,
    ) -> list[CheckResult]:
        # Imported here: ccxt takes seconds to import, and the webserver and daemon load this module too.
        from credential_health.validation import ExchangeValidator

        validator = ExchangeValidator.from_settings(self.settings)
        if self.concurrency:
            validator.concurrency = self.concurrency
        return validator.validate_all(refs, fetch_secret, on_result)
