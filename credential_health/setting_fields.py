"""How a setting is declared and read: `setting(...)` makes a pydantic field parsed from one environment variable,
`Variable` describes it for the help, `config` and the README; the environment source hands text to the parsers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, EnvSettingsSource

from credential_health.setting_parsers import Parser, SettingsError


@dataclass(frozen=True)
class _ParsedBy:
    """A field's metadata: its text goes through `parser(variable, text)` before pydantic checks the type."""

    variable: str
    parser: Parser

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            lambda raw: self.parser(self.variable, raw) if isinstance(raw, str) else raw, handler(source)
        )


def setting(name: str, parser: Parser, default: str, description: str) -> Any:
    """A field read from the variable `name`; `default` is its text when unset (parsed like a set value)."""
    field = Field(default, validation_alias=name, description=description, validate_default=True)
    field.metadata.append(_ParsedBy(name, parser))
    return field


@dataclass(frozen=True)
class Variable:
    """One setting as the help, `config` and the README show it: `parser(name, text)` turns the variable's
    text (or `default`, its text when unset) into the field `attribute`, raising SettingsError naming it."""

    name: str
    attribute: str
    parser: Parser
    default: str
    description: str
    secret: bool  # a SecretStr field: never printed

    @property
    def bounds(self) -> tuple[float, float] | None:
        """(minimum, maximum) of a number, for the help text; None for other kinds."""
        return getattr(self.parser, "bounds", None)

    def parse(self, env: Mapping[str, str]) -> Any:
        """This variable alone, read from `env` (other variables, even bad ones, are not looked at)."""
        return self.parser(self.name, env.get(self.name, self.default))


class Environment(EnvSettingsSource):
    """The environment source over a given mapping (os.environ or a test's dict); text reaches the parsers
    undecoded, so a malformed JSON value gets the parser's message naming the variable."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str]:
        return dict(self._env)


def first_problem(invalid: ValidationError) -> str:
    """The parser's own message (it names the variable) for the first field that failed."""
    error = invalid.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, SettingsError):
        return str(cause)
    return f"{'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}"


def variables_of(settings_cls: type[BaseSettings]) -> Iterator[Variable]:
    """Every variable of `settings_cls`'s fields, in their order."""
    for attribute, field in settings_cls.model_fields.items():
        for marker in field.metadata:
            if isinstance(marker, _ParsedBy):
                yield Variable(
                    marker.variable,
                    attribute,
                    marker.parser,
                    field.default,
                    field.description or "",
                    secret=field.annotation is SecretStr,
                )
