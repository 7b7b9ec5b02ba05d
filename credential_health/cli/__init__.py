"""`credential-health`: the operator's command line. Each command group lives in its own module.

Built on click rather than typer: typer is a layer over click (plus rich) that adds type-hint-driven
declarations, which this small, fixed set of commands does not need; click alone gives the help, the
usage errors and the exit codes, with one library to learn and nothing between us and it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

import click
import sqlalchemy as sa

from credential_health.cli import config, db, metrics, simulator, webhooks
from credential_health.cli.common import EXIT_CODES_HELP, ConfigurationError, RuntimeFailure, first_line
from credential_health.notify.secrets import MissingWebhookSecret
from credential_health.settings import SettingsError
from credential_health.vault.errors import Forbidden, VaultAuthError, VaultError

PROG = "credential-health"


class _Root(click.Group):
    """Turns the errors operators meet into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SettingsError as exc:
            raise ConfigurationError(str(exc)) from None
        except (VaultAuthError, Forbidden) as exc:
            raise ConfigurationError(f"Vault: {exc}") from None
        except (VaultError, MissingWebhookSecret) as exc:
            raise RuntimeFailure(f"Vault: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
            raise RuntimeFailure(f"database: {type(cause).__name__}: {first_line(cause)}") from None
        except OSError as exc:
            raise RuntimeFailure(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a bug: its message may hold anything, so only -v shows it
            if (ctx.obj or {}).get("verbose"):
                traceback.print_exc()
            raise RuntimeFailure(f"unexpected {type(exc).__name__} (run with -v to see the traceback)") from None


@click.group(
    PROG,
    cls=_Root,
    invoke_without_command=True,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-v", "--verbose", count=True, help="More output: -v shows the migrations being applied, -vv logs at DEBUG."
)
@click.version_option(package_name="credential_health", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Operate credential_health: result-table migrations, Prometheus metrics, tenant webhooks and the
    exchange simulator. Each command's --help lists the environment variables it reads."""
    ctx.obj = {"verbose": verbose}
    _configure_logging(verbose)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _configure_logging(verbose: int) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(levelname)s %(message)s")
    # Alembic says INFO for every migration context it opens, even when nothing is applied.
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)


for group in (config.command, db.group, metrics.group, simulator.command, webhooks.group):
    cli.add_command(group)


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point; returns the exit code (0 when all went well)."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
