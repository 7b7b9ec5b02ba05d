"""A real webhook receiver for tests and the demo: verifies Standard Webhooks signatures, records, can be scripted.

One receiver serves many tenants: each path (e.g. `/hooks/tenant-a`) has its own secrets and its own
queue of scripted responses (consumed in order, then 200). Runs in a background thread:

    with WebhookReceiver(secrets=[secret]) as receiver:
        receiver.script("/hooks/a", [500, {"status": 429, "retry_after": 1}, 200])
        ...; receiver.accepted("/hooks/a")

or as a process: `python -m credential_health.sandbox.webhook_receiver --port 8090 --secret whsec_...`,
driven through `POST /__receiver/script`, `POST /__receiver/secrets`, `POST /__receiver/latency`,
`POST /__receiver/reset` and `GET /__receiver/received?path=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from credential_health.notify.signing import SEED_SIGNATURE_HEADER, SEED_TIMESTAMP_HEADER, SIGNATURE_HEADERS
from credential_health.sandbox.seed_signature import verify_seed_signature

CONTROL_PREFIX = "/__receiver/"


@dataclass(frozen=True)
class ScriptedResponse:
    """One scripted answer: status, optional Retry-After, delay before answering (a hang), body and headers."""

    status: int = 200
    retry_after: float | str | None = None
    delay: float = 0.0
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: int | dict[str, Any] | ScriptedResponse) -> ScriptedResponse:
        """Accept `500`, `{"status": 429, "retry_after": 1, "delay": 2, "body": "...", "headers": {...}}`."""
        if isinstance(item, ScriptedResponse):
            return item
        if isinstance(item, int):
            return cls(status=item)
        unknown = set(item) - {"status", "retry_after", "delay", "body", "headers"}
        if unknown:
            raise ValueError(f"unknown scripted response keys: {sorted(unknown)}")
        return cls(**item)


@dataclass
class ReceivedRequest:
    """One request as received; `headers` are lower-cased and never include signature headers."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    verified: bool  # Standard Webhooks verification with the path's secrets
    seed_verified: bool  # the X-Credential-Health-Signature header, same secrets
    verify_error: str | None
    status: int  # the status the receiver answers (decided on arrival)
    received_at: datetime
    peer: str  # the remote IP address the connection came from
    answered: bool = False  # False while delayed, or if the sender gave up first

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (body as text) for the control API."""
        data = asdict(self)
        data.update(body=self.body.decode("utf-8", errors="replace"), received_at=self.received_at.isoformat())
        return data


class WebhookReceiver:
    """A scripted, verifying webhook receiver on an aiohttp server in a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secrets: Sequence[str] = (),
        latency: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.default_secrets = list(secrets)
        self.latency = latency
        self._ssl = ssl_context
        self._lock = threading.Lock()
        self._secrets: dict[str, list[str]] = {}
        self._scripts: dict[str, deque[ScriptedResponse]] = {}
        self._records: list[ReceivedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:PORT`; append a per-tenant path."""
        return f"{'https' if self._ssl else 'http'}://{self.host}:{self.port}"

    def url_for(self, path: str) -> str:
        """The full URL of a path on this receiver."""
        return self.url + path

    def script(self, path: str, responses: Iterable[int | dict[str, Any] | ScriptedResponse]) -> None:
        """Queue responses for `path`, consumed one per request; afterwards 200."""
        parsed = [ScriptedResponse.parse(r) for r in responses]
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(parsed)

    def set_secrets(self, path: str, secrets: Sequence[str]) -> None:
        """Secrets that verify requests to `path` (any one may match); replaces the defaults for that path."""
        with self._lock:
            self._secrets[path] = list(secrets)

    def set_latency(self, seconds: float) -> None:
        """A delay added before every answer (all paths)."""
        self.latency = seconds

    def received(self, path: str | None = None) -> list[ReceivedRequest]:
        """Every request so far, oldest first, optionally only those to `path`."""
        with self._lock:
            return [r for r in self._records if path is None or r.path == path]

    def accepted(self, path: str | None = None) -> list[ReceivedRequest]:
        """Requests that verified and were answered with a 2xx."""
        return [r for r in self.received(path) if r.verified and r.answered and 200 <= r.status < 300]

    def wait_for_accepted(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests were accepted (for senders in other threads or processes)."""
        deadline = time.monotonic() + timeout
        while len(accepted := self.accepted(path)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(accepted)} of {count} webhooks accepted after {timeout} s")
            time.sleep(0.02)
        return accepted

    def reset(self) -> None:
        """Forget records, scripts and per-path secrets."""
        with self._lock:
            self._records.clear()
            self._scripts.clear()
            self._secrets.clear()

    @staticmethod
    def _verify(secrets: Sequence[str], body: bytes, headers: dict[str, str]) -> tuple[bool, bool, str | None]:
        """(Standard Webhooks verified, seed header verified, why not) against any of `secrets`."""
        if not secrets:
            return False, False, "no secret configured for this path"
        error: str | None = "no secret matched"
        for secret in secrets:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - the library raises several types; record which
                error = f"{type(exc).__name__}: {exc}"
        seed = headers.get(SEED_SIGNATURE_HEADER.lower(), "")
        try:
            seed_ok = bool(seed) and verify_seed_signature(
                body, headers.get(SEED_TIMESTAMP_HEADER.lower(), ""), seed, secrets
            )
        except ValueError:  # a malformed secret configured in the receiver
            seed_ok = False
        return error is None, seed_ok, error

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            secrets = self._secrets.get(request.path, self.default_secrets)
        verified, seed_ok, error = self._verify(secrets, body, headers)
        with self._lock:
            queue = self._scripts.get(request.path)
            if secrets and not verified:  # a real receiver refuses what it cannot verify; script untouched
                planned = ScriptedResponse(status=401, body="signature verification failed")
            else:
                planned = queue.popleft() if queue else ScriptedResponse()
            record = ReceivedRequest(
                path=request.path,
                method=request.method,
                headers={k: v for k, v in headers.items() if k not in SIGNATURE_HEADERS},
                body=body,
                verified=verified,
                seed_verified=seed_ok,
                verify_error=error,
                status=planned.status,
                received_at=datetime.now(timezone.utc),
                peer=(request.remote or ""),
            )
            self._records.append(record)
        await asyncio.sleep(self.latency + planned.delay)
        response_headers = dict(planned.headers)
        if planned.retry_after is not None:
            response_headers["Retry-After"] = str(planned.retry_after)
        record.answered = True
        return web.Response(status=planned.status, text=planned.body, headers=response_headers)

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = request.path[len(CONTROL_PREFIX) :]
        if request.method == "GET" and action == "received":
            return web.json_response([r.to_dict() for r in self.received(request.query.get("path"))])
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        payload = await request.json() if request.can_read_body else {}
        if action == "script":
            self.script(payload["path"], payload["responses"])
        elif action == "secrets":
            self.set_secrets(payload["path"], payload["secrets"])
        elif action == "latency":
            self.set_latency(float(payload["seconds"]))
        elif action == "reset":
            self.reset()
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await self._control(request)
        return await self._hook(request)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a sender that gives up on a hung request does not leave the handler running.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked

    def start(self) -> WebhookReceiver:
        """Start serving in a background thread; returns once the port is bound."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (cancelling hung answers) and its thread."""
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run a receiver until SIGINT/SIGTERM; prints its URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", action="append", default=[], help="whsec_ secret for every path (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added before every answer")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    receiver = WebhookReceiver(host=args.host, port=args.port, secrets=args.secret, latency=args.latency).start()
    print(f"webhook receiver listening on {receiver.url}", flush=True)
    try:
        stop.wait()
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
