"""The base of the resources: settings read once per run, at first use."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from credential_health.settings import Settings


class SettingsResource(ConfigurableResource):
    """A resource configured by the settings, read once per run (at first use) rather than on every call."""

    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._settings = None  # read lazily, so the environment is the run's own

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings
