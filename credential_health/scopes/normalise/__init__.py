"""Key-information normalisers, one module per exchange: METHOD (ccxt implicit method), PARAMS, normalise()."""

from __future__ import annotations

from credential_health.scopes.normalise import bybit, coinbase, kucoin, okx

NORMALISERS = {
    "coinbase": coinbase,
    "kucoin": kucoin,
    "okx": okx,
    "bybit": bybit,
}
