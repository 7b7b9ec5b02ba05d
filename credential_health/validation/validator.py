"""Validate exchange credentials concurrently with ccxt.async_support: the engine behind the assets and jobs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import aiohttp

from credential_health.models import (
    CheckResult,
    CredentialRef,
    ExchangeSecret,
    MalformedSecret,
    SecretUnavailable,
    Status,
)
from credential_health.scopes.probe import expired, probes, run_probe
from credential_health.scopes.record import ScopeRecord
from credential_health.validation.answers import GENERIC_EVIDENCE, exchange_error
from credential_health.validation.budget import BudgetConfig, Budgets
from credential_health.validation.classify import Evidence, classify, classify_attempt
from credential_health.validation.codes import (
    BAD_RESPONSE,
    KEY_EXPIRED,
    TRANSPORT_AUTH,
    UNSUPPORTED_EXCHANGE,
    is_transient,
)
from credential_health.validation.handoff import Handoff
from credential_health.validation.instances import (
    SUPPORTED,
    build_exchange,
    default_ssl_context,
    exchange_session,
    forget_last_answer,
    last_answer,
    missing_credentials,
)
from credential_health.validation.redact import redact

log = logging.getLogger(__name__)

# Either a synchronous read (run on a thread pool) or an async context manager giving an async read
# (e.g. vault.secret_reads.AsyncSecretReads: reads on the checks' own loop, cheaper than a thread each).
FetchSecret = Callable[[CredentialRef], ExchangeSecret]
AsyncRead = Callable[[CredentialRef], Awaitable[ExchangeSecret]]


class ExchangeValidator:
    """Checks credentials with one signed balance call each, streaming results as they complete."""

    def __init__(
        self,
        exchange_urls: Mapping[str, str] | None = None,
        rate_limit_per_second: float = 0.0,
        attempts: int = 3,
        retry_delay_seconds: float = 1.0,
        request_timeout_seconds: float = 10.0,
        concurrency: int = 64,
        budget: BudgetConfig | None = None,
        egress_address: str = "",
        published_egress_addresses: Iterable[str] = (),
    ):
        if attempts < 1 or concurrency < 1:
            raise ValueError("attempts and concurrency must be at least 1")
        self.exchange_urls = dict(exchange_urls or {})
        self.rate_limit_per_second = rate_limit_per_second
        # the exchange budget (ccxt cost units per second, per exchange and egress); 0 = unlimited
        self.budget = budget if budget is not None else BudgetConfig(every_exchange=rate_limit_per_second)
        self.egress_address = egress_address
        # the addresses a key's IP allowlist should hold: the published ones and the one checks leave from
        self.allowlist_addresses = (*published_egress_addresses, egress_address)
        self.attempts = attempts
        self.retry_delay_seconds = retry_delay_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self.concurrency = concurrency
        self._ssl_context = default_ssl_context()

    @classmethod
    def from_settings(cls, settings) -> ExchangeValidator:
        """A validator configured from `credential_health.settings.Settings`."""
        return cls(
            exchange_urls=settings.exchange_urls,
            rate_limit_per_second=settings.exchange_rate_limit,
            attempts=settings.check_attempts,
            retry_delay_seconds=settings.check_retry_delay_seconds,
            request_timeout_seconds=settings.check_timeout_seconds,
            concurrency=settings.check_concurrency,
            budget=BudgetConfig.from_settings(settings),
            egress_address=settings.egress_address,
            published_egress_addresses=settings.published_egress_addresses,
        )

    async def validate_stream(
        self, refs: Iterable[CredentialRef], fetch_secret: FetchSecret
    ) -> AsyncGenerator[CheckResult, None]:
        """Yield one result per ref in completion order, with at most `concurrency` checks in flight.

        `refs` is consumed lazily. An exception from `fetch_secret` other than MalformedSecret or
        SecretUnavailable aborts the run: in-flight checks are cancelled and everything is closed.
        """
        # One pool, one session and one SSL context for every check: per-instance ones double the cost.
        # duck-typed: the caller's own async reads (an async context manager) or a pool around its function
        reads: Any = (
            fetch_secret if hasattr(fetch_secret, "__aenter__") else _PooledReads(fetch_secret, self.concurrency)
        )
        read = await reads.__aenter__()
        session = exchange_session(self.concurrency, self._ssl_context, self.egress_address)
        budgets = self.budget.open()
        pending: set[asyncio.Task[CheckResult]] = set()
        finished: asyncio.Queue[asyncio.Task[CheckResult]] = asyncio.Queue()  # cheaper than asyncio.wait per wake
        ref_iter = iter(refs)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.concurrency:
                    ref = next(ref_iter, None)  # refs are never None
                    if ref is None:
                        exhausted = True
                    else:
                        task = asyncio.ensure_future(self._check(ref, read, session, budgets))
                        task.add_done_callback(finished.put_nowait)
                        pending.add(task)
                if not pending:
                    return
                task = await finished.get()
                pending.discard(task)
                yield task.result()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await session.close()
            await budgets.aclose()
            await reads.__aexit__(None, None, None)

    def validate_iter(self, refs: Iterable[CredentialRef], fetch_secret: FetchSecret) -> Iterator[CheckResult]:
        """Synchronous streaming: drives validate_stream on a private event loop in the calling thread
        (which must not be running a loop already; async code uses validate_stream)."""
        if _loop_running():
            raise RuntimeError("validate_iter cannot run inside a running event loop; use validate_stream")
        loop = asyncio.new_event_loop()
        stream = self.validate_stream(refs, fetch_secret)
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(stream))
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(stream.aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def validate_all(
        self,
        refs: Iterable[CredentialRef],
        fetch_secret: FetchSecret,
        on_result: Callable[[CheckResult], None] | None = None,
    ) -> list[CheckResult]:
        """Validate everything and return the results; callable from any thread, with or without a loop."""
        if _loop_running():  # e.g. called from async code: run on a helper thread with a loop of its own
            with concurrent.futures.ThreadPoolExecutor(1, "credential-validate") as helper:
                return helper.submit(self.validate_all, refs, fetch_secret, on_result).result()
        results: list[CheckResult] = []
        if on_result is None:
            return list(self.validate_iter(refs, fetch_secret))
        with Handoff(on_result) as hand_on:  # e.g. batch writes: on their own thread, the checks keep going
            for result in self.validate_iter(refs, fetch_secret):
                hand_on(result)
                results.append(result)
        return results

    async def _check(
        self, ref: CredentialRef, read: AsyncRead, session: aiohttp.ClientSession, budgets: Budgets
    ) -> CheckResult:
        """One credential: read its secret just in time, ask the exchange, classify."""
        started = time.perf_counter()
        if ref.exchange not in SUPPORTED:
            return self._result(
                ref, Status.INVALID, UNSUPPORTED_EXCHANGE, f"{ref.exchange!r} is not a ccxt exchange id", started, 0
            )
        try:  # at most `concurrency` secrets are held at once: one per check in flight
            secret = await read(ref)
        except (MalformedSecret, SecretUnavailable) as exc:  # anything else aborts the run
            return self._result(ref, *classify(exc), redact(exc), started, 0)
        sensitive = secret.sensitive_values()
        try:
            missing = missing_credentials(ref.exchange, secret)
            if missing:
                raise MalformedSecret(f"{ref.exchange} needs {', '.join(missing)}")
            exchange = build_exchange(
                ref.exchange,
                secret,
                session,
                self._ssl_context,
                self.request_timeout_seconds,
                self.exchange_urls.get(ref.exchange),
                budgets.for_exchange(ref.exchange),
            )
        except Exception as exc:  # noqa: BLE001 - a bad secret or exchange must not stop the others
            return self._result(ref, *classify(exc), redact(exc, sensitive), started, 0)
        finally:
            del secret  # from here on the instance holds the only copy, until it is closed below
        scope, scope_error = None, ""
        try:
            status, code, message, attempts = await self._attempts(exchange, sensitive)
            if status is Status.VALID and probes(ref.exchange):  # same instance, same budget, right after
                now = datetime.now(timezone.utc)
                scope, scope_error = await run_probe(exchange, now, self.allowlist_addresses)
                if scope is not None and scope.expires_at is not None and expired(scope, now):
                    status, code = Status.INVALID, KEY_EXPIRED
                    message = f"the exchange reports the key expired at {scope.expires_at.isoformat()}"
        finally:
            await exchange.close()
        return self._result(ref, status, code, message, started, attempts, scope, scope_error)

    async def _attempts(self, exchange, sensitive: list[str]) -> tuple[Status, str, str | None, int]:
        """fetch_balance with retries for transient failures only (full-jitter exponential backoff)."""
        attempt = 0
        while True:
            attempt += 1
            forget_last_answer(exchange)
            error: Exception | None = None
            try:
                await exchange.fetch_balance()
            except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes a check
                error = exc
            status, code = classify_attempt(exchange.id, error, Evidence(*last_answer(exchange)))
            if status is Status.VALID:
                return status, code, None, attempt
            if not is_transient(code) or attempt >= self.attempts:
                return status, code, redact(_describe(error, code, exchange), sensitive), attempt
            await asyncio.sleep(random.uniform(0, self.retry_delay_seconds * 2 ** (attempt - 1)))

    def _result(
        self,
        ref: CredentialRef,
        status: Status,
        code: str,
        message: str | None,
        started: float,
        attempts: int,
        scope: ScopeRecord | None = None,
        scope_error: str = "",
    ) -> CheckResult:
        """The result (checked_at: when the check finished) and its one log line."""
        duration_ms = int((time.perf_counter() - started) * 1000)
        level = logging.DEBUG if status is Status.VALID else logging.INFO
        log.log(
            level,
            "check %s: %s/%s attempts=%d %dms %s",
            ref.path,
            status.value,
            code,
            attempts,
            duration_ms,
            message or "",
        )
        return CheckResult(
            ref=ref,
            status=status,
            error_code=code,
            error_message=message,
            checked_at=datetime.now(timezone.utc),
            duration_ms=duration_ms,
            attempts=attempts,
            scope=scope,
            egress_address=self.egress_address,
            scope_error=scope_error,
        )


class _PooledReads:
    """A synchronous read on a thread pool sized to the checks in flight (the reads overlap the checks)."""

    def __init__(self, fetch_secret: FetchSecret, concurrency: int):
        self.fetch_secret = fetch_secret
        self.pool = concurrent.futures.ThreadPoolExecutor(min(concurrency, 32), "credential-secret")

    async def __aenter__(self) -> AsyncRead:
        return self.read

    async def __aexit__(self, *exc) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def read(self, ref: CredentialRef) -> ExchangeSecret:
        # like asyncio.to_thread (context variables travel along), but on the pool above
        call = functools.partial(contextvars.copy_context().run, self.fetch_secret, ref)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)


def _describe(error: Exception | None, code: str, exchange) -> str:
    """The stored message: the exception, or what was wrong with an answer that raised nothing."""
    status = exchange.last_http_status
    # ccxt's text would quote a proxy's page or a broken body; the status and the class say enough
    if code == BAD_RESPONSE:
        return f"HTTP {status}: not an account answer from {exchange.id}" + (
            f" ({type(error).__name__})" if error is not None else ""
        )
    if code == TRANSPORT_AUTH:
        return f"HTTP {status} without an exchange error body ({type(error).__name__})"
    said = exchange_error(exchange.id, exchange.last_json_response)
    # ccxt may put a note of its own before the exchange's body (Bybit's 10005): name the exchange's code first
    if said not in (None, GENERIC_EVIDENCE) and said not in str(error)[:100]:
        return f"{type(error).__name__} ({exchange.id} {said}): {error}"
    return f"{type(error).__name__}: {error}"


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
