"""The probe's cost: charged to the check's own budget at ccxt's cost, and to the exchange's own pool on its side."""

from __future__ import annotations

import logging
import uuid

import ccxt
import pytest

from credential_health.models import CredentialRef, Status
from credential_health.sandbox import binance
from credential_health.scopes.probe import probe_cost
from credential_health.validation import ExchangeValidator
from credential_health.validation.budget import BudgetConfig
from credential_health.validation.ratelimit import bucket_for

RATE = 0.001  # units a second: every reservation shows as whole seconds in the bucket
# ccxt's own cost of each balance call and each probe (its implicit API tables)
COSTS = {
    "binance": (
        ccxt.binance().api["private"]["get"]["account"]["cost"],
        ccxt.binance().api["sapi"]["get"]["account/apiRestrictions"]["cost"],
    ),
    "kraken": (
        ccxt.kraken().api["private"]["post"]["BalanceEx"]["cost"],
        ccxt.kraken().api["private"]["post"]["GetApiKeyInfo"]["cost"],
    ),
}


def units_beyond_burst(exchange: str, behaviour: str, simulator, sim_credential) -> float:
    """Run one check on a fresh bucket whose burst is the balance call's cost; return the units reserved beyond it."""
    balance_cost, _ = COSTS[exchange]
    egress = f"probe-{uuid.uuid4().hex}"  # the bucket's key only: a bucket of this test's own
    budget = BudgetConfig(overrides={exchange: RATE}, egress=egress, burst=balance_cost)
    credential = sim_credential(exchange, behaviour)
    ExchangeValidator(simulator.urls, attempts=1, budget=budget).validate_all(
        [CredentialRef("acme", exchange, "trading")], lambda ref: credential
    )
    # a zero-cost reservation waits exactly as long as the units reserved beyond the burst take at RATE
    return bucket_for(exchange, RATE, egress, balance_cost).reserve(0) * RATE


@pytest.mark.parametrize("exchange", sorted(COSTS))
def test_the_probe_is_charged_to_the_checks_budget_at_its_ccxt_cost(exchange_simulator, sim_credential, exchange):
    _, probe_cost = COSTS[exchange]
    assert units_beyond_burst(exchange, "valid", exchange_simulator, sim_credential) == pytest.approx(
        probe_cost, abs=0.01
    )
    # a failed check is not probed: nothing beyond the balance call
    assert units_beyond_burst(exchange, "revoked", exchange_simulator, sim_credential) == 0


def test_binance_counts_the_probe_in_the_endpoints_own_sapi_pool(exchange_simulator, sim_credential):
    credential = sim_credential("binance")
    [result] = ExchangeValidator(exchange_simulator.urls, attempts=1).validate_all(
        [CredentialRef("acme", "binance", "trading")], lambda ref: credential
    )
    assert result.status is Status.VALID and result.scope is not None
    budget = exchange_simulator.state.budget
    assert budget.used("binance", "127.0.0.1") == 20  # GET /api/v3/account, the api pool
    assert budget.used("binance" + binance.KEY_INFO_PATH, "127.0.0.1") == 1  # weight 1, not in the api pool


def test_secrets_stay_out_of_records_results_and_logs(exchange_simulator, sim_credential, caplog):
    caplog.set_level(logging.DEBUG)
    credentials = {
        "ok": sim_credential("kraken", scope={"withdraw": True}),  # Kraken's answer echoes the key
        "bad": sim_credential("binance", scope={"answer": "server_error"}),
        "old": sim_credential("binance", scope={"expires_at": 1_000_000_000}),
    }
    refs = [CredentialRef(tenant, "kraken" if tenant == "ok" else "binance", "trading") for tenant in credentials]
    results = ExchangeValidator(exchange_simulator.urls, attempts=1).validate_all(
        refs, lambda ref: credentials[ref.tenant_id]
    )
    assert sorted(r.error_code for r in results) == ["key_expired", "ok", "ok"]
    assert any(r.scope_error for r in results)
    text = caplog.text + "".join(repr(r) + str(r.error_message) for r in results)
    for credential in credentials.values():
        for value in credential.sensitive_values():
            assert value not in text


def test_probe_cost_is_read_from_ccxts_tables():
    assert {exchange: probe_cost(exchange) for exchange in COSTS} == {e: c[1] for e, c in COSTS.items()}
    assert probe_cost("gemini") == 0  # no probe, no cost
