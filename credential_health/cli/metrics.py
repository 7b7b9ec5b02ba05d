"""`credential-health metrics serve|show`: Prometheus exposition computed from the result tables."""

from __future__ import annotations

import threading

import click
from prometheus_client import generate_latest, start_http_server

from credential_health.cli.common import command_group, environment_help, open_database, with_settings
from credential_health.metrics import registry_for

group = command_group("metrics", "Prometheus metrics from the result tables.")
METRICS_ENV = environment_help(
    "CREDENTIAL_HEALTH_DATABASE_URL", "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "CREDENTIAL_HEALTH_METRICS_*"
)


@group.command("serve", epilog=METRICS_ENV)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    show_default=True,
    help="Port to listen on (0 picks a free one, printed at start).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only by default).")
@with_settings
def serve(settings, port: int, host: str) -> None:
    """Serve /metrics over HTTP until stopped (Ctrl-C)."""
    # a bad URL or a server that is down fails now, not at the first scrape
    open_database(settings, migrate=False).dispose()
    server, _ = start_http_server(port, addr=host, registry=registry_for(settings))
    click.echo(f"serving metrics on http://{host}:{server.server_port}/metrics")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


@group.command("show", epilog=METRICS_ENV)
@with_settings
def show(settings) -> None:
    """Print the exposition once."""
    open_database(settings, migrate=False).dispose()
    click.echo(generate_latest(registry_for(settings)).decode(), nl=False)
