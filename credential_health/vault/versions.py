"""Whether a KV v2 secret's current version can still be read, from its metadata alone (never its value).

KV v2 keeps a secret's metadata (and so its name in LIST) after `delete` (soft delete: the version gets a
`deletion_time`) and after `destroy` (the version is marked `destroyed`); only `metadata delete` removes the
name. The metadata's `current_version` names the version a read returns, and `versions[str(n)]` holds its
`deletion_time` ("" when not deleted; a future time when `delete_version_after` schedules it) and `destroyed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

# Vault writes RFC 3339 with nanoseconds; fromisoformat takes at most microseconds before Python 3.12.
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class CurrentVersion:
    live: bool  # a read of the secret would return data
    version: int | None
    updated_time: datetime | None


def parse_time(text: str | None) -> datetime | None:
    """A Vault timestamp as an aware UTC datetime; None for "" (never set) or anything unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def current_version(metadata: dict | None, now: datetime) -> CurrentVersion:
    """The state of the version a read would return: not live when there is none, or it is deleted or destroyed."""
    if not metadata:
        return CurrentVersion(False, None, None)
    number = metadata.get("current_version")
    updated = parse_time(metadata.get("updated_time"))
    entry = (metadata.get("versions") or {}).get(str(number)) if number else None
    if not entry or entry.get("destroyed"):
        return CurrentVersion(False, number, updated)
    deleted_at = parse_time(entry.get("deletion_time"))
    return CurrentVersion(deleted_at is None or deleted_at > now, number, updated)
