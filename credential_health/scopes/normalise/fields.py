"""Strict readers for the fields of a key-information answer: a wrong type raises, an absent field is None."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone


class BadScopeAnswer(ValueError):
    """The key-information answer is not the documented shape."""


def mapping(answer: object) -> Mapping:
    if not isinstance(answer, Mapping):
        raise BadScopeAnswer(f"expected an object, got {type(answer).__name__}")
    return answer


def flag(answer: Mapping, name: str) -> bool | None:
    """A JSON boolean, or None when the field is absent."""
    value = answer.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise BadScopeAnswer(f"{name} is not a boolean")


def any_flag(answer: Mapping, *names: str) -> bool | None:
    """True when any present flag is true, False when all present ones are false, None when none is present."""
    values = [value for value in (flag(answer, name) for name in names) if value is not None]
    return any(values) if values else None


def epoch(value: object, name: str, scale: float = 1.0) -> datetime | None:
    """A Unix time (number or digit string) divided by `scale` as UTC; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadScopeAnswer(f"{name} is not a time")
    try:
        seconds = float(value) / scale
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadScopeAnswer(f"{name} is not a time") from exc


def strings(value: object, name: str) -> tuple[str, ...] | None:
    """A JSON list of strings as a tuple; None when absent."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadScopeAnswer(f"{name} is not a list of strings")
    return tuple(value)
