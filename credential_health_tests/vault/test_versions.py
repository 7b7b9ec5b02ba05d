"""Reading a KV v2 secret's metadata: which current versions still answer a read."""

from __future__ import annotations

from datetime import datetime, timezone

from credential_health.vault.versions import current_version, parse_time

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def metadata(deletion_time: str = "", destroyed: bool = False, current: int = 2) -> dict:
    """Shaped as KV v2's GET {mount}/metadata/{path} `data` (fields as Vault and OpenBao return them)."""
    return {
        "current_version": current,
        "updated_time": "2026-11-20T10:00:00.123456789Z",
        "versions": {
            "1": {"created_time": "2026-11-01T00:00:00Z", "deletion_time": "2026-11-02T00:00:00Z", "destroyed": False},
            "2": {"created_time": "2026-11-20T10:00:00Z", "deletion_time": deletion_time, "destroyed": destroyed},
        },
    }


def test_only_the_current_version_decides():
    live = current_version(metadata(), NOW)
    assert live.live and live.version == 2  # version 1 is deleted, but it is not the one a read returns
    assert live.updated_time == datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert not current_version(metadata(deletion_time="2026-11-23T07:59:59.999999999Z"), NOW).live
    assert current_version(metadata(deletion_time="2026-11-23T09:00:00Z"), NOW).live  # scheduled, not yet
    assert not current_version(metadata(destroyed=True), NOW).live
    assert not current_version(metadata(current=3), NOW).live  # no such version entry
    assert not current_version({"current_version": 0, "versions": {}}, NOW).live  # metadata without data
    assert not current_version(None, NOW).live


def test_timestamps_vault_writes_and_ones_it_does_not():
    assert parse_time("2026-11-23T08:00:00+01:00") == datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)
    assert parse_time("2026-11-23T08:00:00") == NOW  # no zone: UTC, as Vault means it
    assert parse_time("") is None and parse_time(None) is None and parse_time("n/a") is None
