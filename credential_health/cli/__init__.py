"""`credential-health`: the operator's command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from credential_health.settings import SettingsError
from credential_health.vault.errors import VaultError

# Modules that add a command group; each has `register(subparsers)`.
COMMAND_GROUPS = [
    "credential_health.cli.db",
    "credential_health.cli.metrics",
    "credential_health.cli.simulator",
    "credential_health.cli.webhooks",
]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="credential-health", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    groups = parser.add_subparsers(dest="group", required=True)
    for module in COMMAND_GROUPS:
        importlib.import_module(module).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.handler(args) or 0
    except (SettingsError, VaultError) as exc:
        # Expected operator mistakes get one clear line, not a traceback.
        print(f"credential-health: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
