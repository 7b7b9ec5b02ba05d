"""`credential-health simulator`: run the wire-level exchange simulator (Binance spot, Kraken, Coinbase,
KuCoin, OKX, Bybit) for demos and tests."""

from __future__ import annotations

import click

from credential_health.cli.common import NO_ENV


@click.command(
    "simulator", epilog=NO_ENV, short_help="Run the exchange simulator (Binance, Kraken, Coinbase, KuCoin, OKX, Bybit)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 picks a free one, printed at start).",
)
@click.option(
    "--latency-ms", type=click.FloatRange(0, 60_000), default=0.0, show_default=True, help="Added to every response."
)
@click.option(
    "--weight-per-minute",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Per-IP request weight budget (Binance-style).",
)
@click.option(
    "--ban-after", type=click.IntRange(0), default=5, show_default=True, help="429s ignored before the IP gets 418."
)
@click.option(
    "--ban-seconds",
    type=click.FloatRange(0, 86_400),
    default=120.0,
    show_default=True,
    help="How long an IP ban lasts.",
)
@click.option(
    "--hang-cap-seconds",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="Longest a 'timeout' key hangs.",
)
@click.option(
    "--keys", type=click.Path(exists=True, dir_okay=False), help="JSON file with a list of keys to register at start."
)
def command(host, port, latency_ms, weight_per_minute, ban_after, ban_seconds, hang_cap_seconds, keys) -> None:
    """Run the exchange simulator (Binance spot, Kraken, Coinbase, KuCoin, OKX and Bybit REST, scriptable per key)
    until stopped.

    Point the validator at it with CREDENTIAL_HEALTH_EXCHANGE_URLS='{"binance": "http://HOST:PORT/binance",
    "kraken": "http://HOST:PORT/kraken", "coinbase": "http://HOST:PORT/coinbase", "kucoin": "http://HOST:PORT/kucoin",
    "okx": "http://HOST:PORT/okx", "bybit": "http://HOST:PORT/bybit"}'.
    """
    from credential_health.sandbox.exchange_simulator import main

    argv = [
        "--host",
        host,
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--weight-per-minute",
        str(weight_per_minute),
        "--ban-after",
        str(ban_after),
        "--ban-seconds",
        str(ban_seconds),
        "--hang-cap-seconds",
        str(hang_cap_seconds),
    ]
    main(argv + (["--keys", keys] if keys else []))
