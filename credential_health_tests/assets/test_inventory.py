"""The inventory's guard (a mass removal stops the window) and its retry policy (Vault outages only)."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, materialize

from credential_health.assets.inventory import (
    ACCEPT_SHRINK_TAG,
    VAULT_OUTAGE_RETRY,
    credential_inventory,
    outage_only,
)
from credential_health.resources import default_resources
from credential_health.sandbox.ports import free_port
from credential_health.vault.errors import Forbidden, VaultAuthError, VaultDown, VaultTimeout, VaultUnreachable


def materialize_inventory(pipeline, **tags):
    return materialize(
        [credential_inventory],
        instance=pipeline.instance,
        resources=default_resources(),
        raise_on_error=False,
        tags=tags,
    )


def shrink_check(result) -> tuple[bool, dict]:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "inventory_not_shrunk"]
    return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}


def add_credentials(pipeline, count: int) -> list[str]:
    tenants = [f"tenant-{i:02d}" for i in range(count)]
    for tenant in tenants:
        pipeline.put(tenant, "binance", "trading", {"apiKey": "k" * 8, "secret": "s" * 8})
    return tenants


def test_a_mass_removal_fails_the_blocking_check_until_accepted(pipeline):
    tenants = add_credentials(pipeline, 14)
    first = materialize_inventory(pipeline)
    assert first.success and shrink_check(first)[0]

    for tenant in tenants[:11]:  # a policy or path mistake: 11 of 14 gone at once
        pipeline.delete(tenant, "binance")
    shrunk = materialize_inventory(pipeline)
    passed, meta = shrink_check(shrunk)
    assert not shrunk.success and not passed  # blocking: the run stops, the rollup never sees the removal
    assert (meta["previous_credentials"], meta["credentials"], meta["lost"]) == (14, 3, 11)
    assert meta["shrink_share"] == pytest.approx(11 / 14, abs=1e-4) and "VAULT_TENANTS_PATH" in meta["what_to_do"]

    again = materialize_inventory(pipeline)  # still compared with the last accepted size, not the shrunk one
    assert not again.success and shrink_check(again)[1]["previous_credentials"] == 14

    accepted = materialize_inventory(pipeline, **{ACCEPT_SHRINK_TAG: "true"})
    assert accepted.success and shrink_check(accepted)[1]["accepted_by_tag"] is True
    after = materialize_inventory(pipeline)
    assert after.success and shrink_check(after)[1]["previous_credentials"] == 3


def test_small_losses_pass_an_emptied_inventory_fails_and_the_share_is_configurable(pipeline, monkeypatch):
    tenants = add_credentials(pipeline, 12)
    assert materialize_inventory(pipeline).success
    pipeline.delete(tenants[0], "binance")
    pipeline.delete(tenants[1], "binance")  # 2 of 12: under the 10-credential floor
    assert materialize_inventory(pipeline).success

    for tenant in tenants[2:]:
        pipeline.delete(tenant, "binance")
    emptied = materialize_inventory(pipeline)
    assert not emptied.success and shrink_check(emptied)[1]["credentials"] == 0

    monkeypatch.setenv("CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK", "1")
    add_credentials(pipeline, 12)
    assert materialize_inventory(pipeline).success  # 10 -> 12: growth always passes
    for tenant in tenants:
        pipeline.delete(tenant, "binance")
    assert materialize_inventory(pipeline).success is False  # emptying fails whatever the share
    pipeline.put("last", "kraken", "trading", {"apiKey": "k", "secret": "s"})
    lost_all_but_one = materialize_inventory(pipeline)
    assert lost_all_but_one.success and shrink_check(lost_all_but_one)[1]["max_shrink_share"] == 1.0


def test_only_vault_outages_are_retried():
    assert VAULT_OUTAGE_RETRY.max_retries >= 1 and credential_inventory.op.retry_policy is VAULT_OUTAGE_RETRY
    for outage in (VaultDown("sealed"), VaultUnreachable("refused"), VaultTimeout("slow")):
        assert outage_only(outage) is outage  # raised as is: the retry policy applies
    for final in (VaultAuthError("bad token"), Forbidden("LIST", "secret/metadata/tenants", "list"), KeyError("x")):
        failure = outage_only(final)
        assert failure is not final and failure.allow_retries is False


def test_a_rejected_token_fails_at_once_and_an_unreachable_vault_is_an_outage(pipeline, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "not-a-token")
    rejected = materialize_inventory(pipeline)
    events = {e.event_type for e in rejected.all_events}
    assert not rejected.success and DagsterEventType.STEP_UP_FOR_RETRY not in events
    assert "VaultAuthError" in rejected.failure_data_for_node("credential_inventory").error.to_string()

    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(VaultUnreachable) as raised:
        default_resources()["credentials"].walk()
    assert outage_only(raised.value) is raised.value
