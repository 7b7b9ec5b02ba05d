"""`credential-health simulator`: run the wire-level exchange simulator (Binance spot, Kraken) for demos and tests."""

from __future__ import annotations


def register(groups) -> None:
    parser = groups.add_parser("simulator", help="run the exchange simulator", add_help=False)
    parser.add_argument("rest", nargs="...", help="options of the simulator (see --help)")
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    from credential_health.sandbox.exchange_simulator import main

    return main(args.rest) or 0
