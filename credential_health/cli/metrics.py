"""`credential-health metrics serve|show`: Prometheus exposition computed from the result tables."""

from __future__ import annotations

import threading

from prometheus_client import generate_latest, start_http_server

from credential_health.metrics import registry_for
from credential_health.settings import Settings


def register(groups) -> None:
    parser = groups.add_parser("metrics", help="Prometheus metrics from the result tables")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve /metrics over HTTP until stopped")
    serve.add_argument("--port", type=int, default=9464)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.set_defaults(handler=_serve)
    show = commands.add_parser("show", help="print the exposition once")
    show.set_defaults(handler=_show)


def _serve(args) -> int:
    server, thread = start_http_server(args.port, addr=args.host, registry=registry_for(Settings.from_env()))
    print(f"serving metrics on http://{args.host}:{server.server_port}/metrics", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def _show(args) -> int:
    print(generate_latest(registry_for(Settings.from_env())).decode(), end="")
    return 0
