"""Scope normalisers by ccxt exchange id: each module has METHOD, PARAMS and normalise(answer, now) -> ScopeRecord."""

from __future__ import annotations

import importlib
from types import ModuleType

# One line per exchange (modules are imported on first use; an exchange missing here gets no probe).
MODULES: dict[str, str] = {
    "binance": "credential_health.scopes.normalise.binance",
    "kraken": "credential_health.scopes.normalise.kraken",
    "okx": "credential_health.scopes.normalise.okx",
    "bybit": "credential_health.scopes.normalise.bybit",
    "coinbase": "credential_health.scopes.normalise.coinbase",
    "kucoin": "credential_health.scopes.normalise.kucoin",
}


def normaliser(exchange_id: str) -> ModuleType | None:
    """The normaliser module of an exchange, or None when its keys are not probed."""
    name = MODULES.get(exchange_id)
    return importlib.import_module(name) if name else None
