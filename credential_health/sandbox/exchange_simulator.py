"""Wire-level exchange simulator: Binance spot, Kraken, Coinbase, KuCoin, OKX and Bybit REST on one port, scriptable per
API key.

Run in a test process with ``SimulatorServer().start()`` or as its own process with
``python -m credential_health.sandbox.exchange_simulator --port 8765``; then point the validator at
``{"binance": "<base>/binance", "kraken": "<base>/kraken", ...}`` (one prefix per exchange id) and script keys
over ``/__sim/...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
import threading

from aiohttp import web

from credential_health.sandbox import binance, bybit, coinbase, kraken, kucoin, okx
from credential_health.sandbox.keys import STATE, SignedRequest, SimKey, SimState

CONTROL = "/__sim"


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _register_keys(request: web.Request) -> web.Response:
    """POST one key object or a list of them: exchange, api_key, secret, behaviour and options."""
    try:
        payload = await request.json()
        entries = payload if isinstance(payload, list) else [payload]
        keys = [request.app[STATE].set_key(**entry) for entry in entries]
    except (ValueError, TypeError) as exc:
        return _bad_request(str(exc))
    return web.json_response({"registered": len(keys)})


async def _list_keys(request: web.Request) -> web.Response:
    return web.json_response([key.public() for key in list(request.app[STATE].keys.values())])


async def _remove_key(request: web.Request) -> web.Response:
    request.app[STATE].remove_key(request.match_info["exchange"], request.match_info["api_key"])
    return web.json_response({"removed": True})


async def _configure(request: web.Request) -> web.Response:
    try:
        request.app[STATE].configure(**await request.json())
    except (ValueError, TypeError) as exc:
        return _bad_request(str(exc))
    return web.json_response({"configured": True})


async def _stats(request: web.Request) -> web.Response:
    with_times = request.query.get("timestamps", "") in ("1", "true", "yes")
    return web.json_response(request.app[STATE].stats(timestamps=with_times))


async def _reset(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    request.app[STATE].reset(keys=bool(body.get("keys", False)))
    return web.json_response({"reset": True})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@web.middleware
async def _track_in_flight(request: web.Request, handler) -> web.StreamResponse:
    """Count exchange requests being handled (tests assert concurrency and that hung handlers end)."""
    if request.path.startswith(CONTROL):
        return await handler(request)
    state = request.app[STATE]
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        return await handler(request)
    finally:
        state.in_flight -= 1


def build_app(state: SimState) -> web.Application:
    """The aiohttp application serving every simulated exchange and the control API."""
    app = web.Application(middlewares=[_track_in_flight])
    app[STATE] = state
    app.add_routes(
        binance.routes()
        + kraken.routes()
        + coinbase.routes()
        + kucoin.routes()
        + okx.routes()
        + bybit.routes()
        + [
            web.post(CONTROL + "/keys", _register_keys),
            web.get(CONTROL + "/keys", _list_keys),
            web.delete(CONTROL + "/keys/{exchange}/{api_key}", _remove_key),
            web.post(CONTROL + "/config", _configure),
            web.get(CONTROL + "/stats", _stats),
            web.post(CONTROL + "/reset", _reset),
            web.get(CONTROL + "/health", _health),
        ]
    )
    return app


async def _serve(state: SimState, sock: socket.socket) -> web.AppRunner:
    # handler_cancellation: a client that gives up (timeout) cancels its hanging handler at once;
    # shutdown_timeout: stopping does not wait for requests that are still hanging
    runner = web.AppRunner(build_app(state), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class SimulatorServer:
    """The simulator on a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options):
        self.host = host
        self.port = port
        self.state = SimState(**options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        """exchange_urls for the validator."""
        return {
            module.EXCHANGE: self.base_url + module.PREFIX for module in (binance, kraken, coinbase, kucoin, okx, bybit)
        }

    def start(self) -> str:
        """Start serving; return the base URL."""
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), name="exchange-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.base_url

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stopped = asyncio.Event()
            runner = await _serve(self.state, sock)
            ready.set()
            try:
                await self._stopped.wait()
            finally:
                await runner.cleanup()

        loop = self._loop
        assert loop is not None  # set by start() before this thread runs
        loop.run_until_complete(main())
        loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_key(self, exchange: str, api_key: str, secret: str, behaviour: str = "valid", **opts) -> SimKey:
        """Register or rescript a key while running."""
        return self.state.set_key(exchange, api_key, secret, behaviour, **opts)

    def remove_key(self, exchange: str, api_key: str) -> None:
        self.state.remove_key(exchange, api_key)

    def configure(self, **options) -> None:
        """Change latency_ms, weight_per_minute, sapi_weight_per_minute, window_seconds, ban_after, ban_seconds or
        hang_cap_seconds."""
        self.state.configure(**options)

    def requests(self, api_key: str | None = None, exchange: str | None = None) -> list[SignedRequest]:
        """Signed requests received (optionally for one key or exchange)."""
        return self.state.requests(api_key, exchange)

    def reset(self, keys: bool = False) -> None:
        self.state.reset(keys)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange-simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed at start)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    parser.add_argument(
        "--weight-per-minute",
        type=int,
        default=6_000,
        help="per-IP request weight per window (Binance's real limit by default)",
    )
    parser.add_argument(
        "--sapi-weight-per-minute",
        type=int,
        default=12_000,
        help="per-IP weight per window of each Binance /sapi endpoint (its own pool)",
    )
    parser.add_argument("--window-seconds", type=float, default=60.0, help="length of that window (benches shorten it)")
    parser.add_argument("--ban-after", type=int, default=1, help="429s ignored before the IP gets 418")
    parser.add_argument("--ban-seconds", type=float, default=120.0)
    parser.add_argument("--hang-cap-seconds", type=float, default=30.0, help="longest a 'timeout' key hangs")
    parser.add_argument("--keys", help="JSON file with a list of keys to register at start")
    return parser


async def _serve_forever(state: SimState, host: str, port: int) -> None:
    sock = _bind(host, port)
    runner = await _serve(state, sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"exchange simulator listening on http://{host}:{sock.getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Console entry: serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    state = SimState(
        latency_ms=args.latency_ms,
        weight_per_minute=args.weight_per_minute,
        ban_after=args.ban_after,
        ban_seconds=args.ban_seconds,
        hang_cap_seconds=args.hang_cap_seconds,
        window_seconds=args.window_seconds,
        sapi_weight_per_minute=args.sapi_weight_per_minute,
    )
    if args.keys:
        with open(args.keys, encoding="utf-8") as handle:
            for entry in json.load(handle):
                state.set_key(**entry)
    runner = asyncio.run
    with contextlib.suppress(ImportError):  # uvloop roughly doubles the requests one core can serve
        import uvloop

        runner = uvloop.run
    runner(_serve_forever(state, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
