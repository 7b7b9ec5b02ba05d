"""Delivery of one signed webhook event to one endpoint over httpx, with retries; no database, no Dagster.

Every attempt re-checks the URL (`ssrf.check_url`), connects to the checked IP address (the request
URL's host is replaced by it) and sends the original name as `Host` and as TLS SNI / certificate name
(httpcore's `sni_hostname` request extension), so DNS rebinding cannot move the request elsewhere.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from credential_health.notify.signing import sign_headers, signing_keys
from credential_health.notify.slots import PrioritySlots
from credential_health.notify.ssrf import Resolver, UnresolvableWebhookHost, UnsafeWebhookURL, check_url

USER_AGENT = "credential-health-webhooks/1"
RESPONSE_EXCERPT_BYTES = 4096


@dataclass(frozen=True)
class DeliveryPolicy:
    """Per-attempt timeout and the retry schedule: `retries` retries after the first attempt."""

    timeout_seconds: float = 10.0
    retries: int = 3
    backoff_base_seconds: float = 1.0
    retry_after_cap_seconds: float = 60.0
    jitter: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryPolicy:
        """The policy configured by the `WEBHOOK_*` settings."""
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds,
            retries=settings.webhook_retry_attempts,
            backoff_base_seconds=settings.webhook_retry_backoff_base,
            retry_after_cap_seconds=settings.webhook_retry_after_cap_seconds,
        )

    def backoff(self, retry_no: int) -> float:
        """Seconds before retry `retry_no` (0-based): base * 2**n, times a random 0.8-1.2 with jitter."""
        delay = self.backoff_base_seconds * 2**retry_no
        return delay * random.uniform(0.8, 1.2) if self.jitter else delay


@dataclass(frozen=True)
class AttemptRecord:
    """One HTTP attempt as logged: never a secret, a signature or a request header."""

    attempt_no: int  # 1-based
    started_at: datetime  # tz-aware UTC
    duration_ms: float
    status_code: int | None
    error: str | None  # None when delivered; "timeout", "connect_error", "http_500", "unsafe_url: <reason>", ...
    response_excerpt: str  # first 4 KB of the response body, decoded leniently


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of `deliver`: delivered, gone (410: disable the endpoint) or failed."""

    delivered: bool
    gone: bool
    # Seconds the receiver asked us to wait (Retry-After) when we stopped because of it (above the cap) or
    # with it on the last attempt: do not try this endpoint again sooner.
    retry_after: float | None
    attempts: list[AttemptRecord]

    @property
    def error(self) -> str | None:
        """The last attempt's error, None when delivered."""
        return self.attempts[-1].error if self.attempts else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or HTTP-date), None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if seconds == seconds else None  # NaN
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class WebhookTransport:
    """Signs and sends webhook events over one shared `httpx.AsyncClient`; use as `async with`."""

    def __init__(
        self,
        policy: DeliveryPolicy = DeliveryPolicy(),
        *,
        max_connections: int = 20,
        verify: ssl.SSLContext | bool = True,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self._slots = PrioritySlots(max_connections)
        self._sleep = sleep
        self._clock = clock  # signing timestamps only
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy or CA settings from the environment
            verify=verify,
            timeout=httpx.Timeout(policy.timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            # identity: a bounded excerpt read never inflates a compressed body
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> WebhookTransport:
        """A transport with the settings' policy and a pool as large as `webhook_concurrency`."""
        return cls(DeliveryPolicy.from_settings(settings), max_connections=settings.webhook_concurrency, **kwargs)

    async def __aenter__(self) -> WebhookTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def deliver(
        self,
        target_url: str,
        body: bytes,
        msg_id: str,
        event_type: str,
        secrets: Sequence[str],
        *,
        resolver: Resolver | None = None,
        allow_private: bool,
    ) -> DeliveryOutcome:
        """Send `body` (the exact bytes) with retries; raises ValueError only for a bad secret or message id."""
        signing_keys(msg_id, body, secrets)
        send = functools.partial(self._send, target_url, body, msg_id, event_type, secrets, resolver, allow_private)
        attempts: list[AttemptRecord] = []
        for attempt_no in range(1, self.policy.retries + 2):
            record, retryable, retry_after = await self._attempt(attempt_no, send)
            attempts.append(record)
            status = record.status_code
            if status is not None and 200 <= status < 300:
                return DeliveryOutcome(True, False, None, attempts)
            if status == 410:
                return DeliveryOutcome(False, True, None, attempts)
            if not retryable:
                return DeliveryOutcome(False, False, None, attempts)
            # A wait longer than the cap, or no attempt left: the caller defers the event to a later run.
            if attempt_no > self.policy.retries or (retry_after or 0) > self.policy.retry_after_cap_seconds:
                return DeliveryOutcome(False, False, retry_after, attempts)
            await self._sleep(retry_after if retry_after is not None else self.policy.backoff(attempt_no - 1))
        raise AssertionError("unreachable: the last attempt always returns")

    async def _attempt(
        self, attempt_no: int, send: Callable[[], Awaitable[tuple[int, str, str | None]]]
    ) -> tuple[AttemptRecord, bool, float | None]:
        """One attempt: (record, whether a retry may help, Retry-After seconds)."""
        # The slot bounds requests in flight; a delivery sleeping through its backoff holds none, and
        # retries queue behind first attempts, so a failing endpoint does not slow the healthy ones.
        async with self._slots.hold(priority=0 if attempt_no == 1 else 1):
            started_at, start = datetime.now(timezone.utc), time.perf_counter()
            status: int | None = None
            excerpt, retry_after, retryable, error = "", None, False, None
            try:
                status, excerpt, retry_after_header = await asyncio.wait_for(send(), self.policy.timeout_seconds)
            except UnresolvableWebhookHost:
                error, retryable = "dns_error", True
            except UnsafeWebhookURL as exc:  # refused at send time (SSRF guard, malformed URL): not sent
                error = f"unsafe_url: {exc.reason}"
            except (TimeoutError, httpx.TimeoutException):
                error, retryable = "timeout", True
            except httpx.ConnectError as exc:
                # A certificate that does not match the host will not match on a retry seconds later.
                error, retryable = ("tls_error", False) if _is_certificate_error(exc) else ("connect_error", True)
            except (httpx.NetworkError, httpx.RemoteProtocolError):
                error, retryable = "network_error", True
            except httpx.HTTPError as exc:
                error = f"request_error: {type(exc).__name__}"
            else:
                assert status is not None  # send() answered
                if 300 <= status < 400:  # redirects are never followed (the target was checked, its Location not)
                    error = f"http_{status}: redirect not followed"
                elif not 200 <= status < 300:
                    error = f"http_{status}"
                    retryable = status in (408, 429) or status >= 500
                    retry_after = parse_retry_after(retry_after_header) if retryable else None
            duration_ms = round((time.perf_counter() - start) * 1000, 1)
        return AttemptRecord(attempt_no, started_at, duration_ms, status, error, excerpt), retryable, retry_after

    async def _send(
        self,
        target_url: str,
        body: bytes,
        msg_id: str,
        event_type: str,
        secrets: Sequence[str],
        resolver: Resolver | None,
        allow_private: bool,
    ) -> tuple[int, str, str | None]:
        """Check, sign with a fresh timestamp, send to the checked address; (status, excerpt, Retry-After)."""
        target = await asyncio.to_thread(check_url, target_url, allow_private=allow_private, resolver=resolver)
        headers = sign_headers(msg_id, int(self._clock()), body, secrets, event_type)
        headers["Host"] = target.host_header
        extensions: dict[str, Any] = {}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host  # also the name the certificate is verified against
            # httpcore pools connections by IP:port only; a TLS session verified for one tenant's host
            # must not carry another tenant's request to the same IP, so it is never reused (measured).
            headers["Connection"] = "close"
        request = self._client.build_request(
            "POST", target.pinned_url(), content=body, headers=headers, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            excerpt = bytearray()
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                    break
        finally:
            await response.aclose()
        text = bytes(excerpt[:RESPONSE_EXCERPT_BYTES]).decode("utf-8", errors="replace")
        return response.status_code, text, response.headers.get("Retry-After")
