"""Scripted API keys, the signed-request log and the per-IP request-weight budget of the simulator."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field

from aiohttp import web

from credential_health.sandbox.transport import BEHAVIOURS as TRANSPORT_BEHAVIOURS

EXCHANGES = ("binance", "kraken", "coinbase", "kucoin", "okx", "bybit")
BEHAVIOURS = (
    "valid", "revoked", "bad_key_format", "bad_signature", "permission_denied", "suspended", "rate_limited",
    "timeout", "server_error", "maintenance", "clock_skew", "flaky", *TRANSPORT_BEHAVIOURS,
)


@dataclass
class SimKey:
    """One API key as the simulated exchange knows it, with its scripted behaviour."""

    exchange: str
    api_key: str
    secret: str = field(repr=False)
    behaviour: str = "valid"
    latency_ms: float | None = None  # None: the server-wide default
    fail_first: int = 1  # flaky: this many signed calls fail before the key answers normally
    fail_with: str = "server_error"  # flaky: the behaviour of the failing calls
    then: str = "valid"  # flaky: the behaviour after them
    calls: int = 0  # signed calls seen since the key was (re)registered
    last_nonce: int = 0  # Kraken: nonces must strictly increase per key
    passphrase: str = field(default="", repr=False)  # KuCoin's KC-API-PASSPHRASE, OKX's OK-ACCESS-PASSPHRASE
    # What the key-information endpoints report: withdraw/trade/transfer (bool), ip_allowlist (list|None) and
    # expires_at (ISO|None); key_scope.py says what OKX and Bybit make of it at request time
    scope: dict = field(default_factory=lambda: {"withdraw": False, "trade": True, "transfer": False,
                                                 "ip_allowlist": None, "expires_at": None})

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {self.exchange!r}; expected one of {EXCHANGES}")
        for name in (self.behaviour, self.fail_with, self.then):
            if name not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {name!r}; expected one of {BEHAVIOURS}")

    def next_scenario(self) -> str:
        """Count one signed call and return the behaviour it gets (flaky resolves to fail_with, then `then`)."""
        self.calls += 1
        if self.behaviour == "flaky":
            return self.fail_with if self.calls <= self.fail_first else self.then
        return self.behaviour

    def public(self) -> dict:
        """The key's settings without the secret."""
        data = asdict(self)
        del data["secret"], data["passphrase"]
        return data


@dataclass(frozen=True)
class SignedRequest:
    """A signed request as it reached the simulator."""

    exchange: str
    api_key: str
    path: str
    at: float  # time.time()


@dataclass(frozen=True)
class Refusal:
    """A request the per-IP limit refused: 429 ("throttled") or 418 ("banned")."""

    exchange: str
    ip: str
    verdict: str
    at: float  # time.time()
    retry_after: float


class WeightBudget:
    """Binance's per-IP request weight (developers.binance.com/docs/binance-spot-api-docs/rest-api/limits):
    weight over the limit within the window -> 429 with Retry-After (seconds until enough weight frees to avoid
    a ban); not backing off (more than `ban_after` over-limit requests in a row) -> 418 with Retry-After until
    the ban ends. Bans scale for repeat offenders (doubling, capped at the documented 3 days).

    The window is a minute, as Binance's; benches may shorten it (and the limit with it) to see overruns fast.
    """

    MAX_BAN_SECONDS = 3 * 24 * 3600.0

    def __init__(self, weight_per_minute: int, ban_after: int = 1, ban_seconds: float = 120.0, window: float = 60.0):
        self.weight_per_minute = weight_per_minute  # the limit per window (a minute unless a bench shortens it)
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.window = window
        self._spent: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._violations: dict[tuple[str, str], int] = {}
        self._bans: dict[tuple[str, str], int] = {}
        self._banned_until: dict[tuple[str, str], float] = {}

    def charge(self, exchange: str, ip: str, weight: int, now: float) -> tuple[str, int, float]:
        """Spend weight; return ("ok" | "throttled" | "banned", weight used this window, Retry-After seconds)."""
        key = (exchange, ip)
        spent = self._spent.setdefault(key, deque())
        used = self._used.get(key, 0)
        while spent and spent[0][0] <= now - self.window:
            used -= spent.popleft()[1]
        self._used[key] = used
        banned_until = self._banned_until.get(key, 0.0)
        if now < banned_until:
            return "banned", used, banned_until - now
        if used + weight <= self.weight_per_minute:
            spent.append((now, weight))  # only served requests are charged (Binance documents neither way)
            self._used[key] = used + weight
            self._violations[key] = 0
            return "ok", used + weight, 0.0
        violations = self._violations[key] = self._violations.get(key, 0) + 1
        if violations > self.ban_after:  # the client did not back off after ban_after 429s
            bans = self._bans[key] = self._bans.get(key, 0) + 1
            length = min(self.ban_seconds * 2 ** (bans - 1), self.MAX_BAN_SECONDS)
            self._banned_until[key] = now + length
            return "banned", used, length
        return "throttled", used + weight, self._frees_in(spent, used + weight, now)

    def _frees_in(self, spent: deque[tuple[float, int]], wanted: int, now: float) -> float:
        """Seconds until enough weight leaves the window for `wanted` (this request included) to fit."""
        for at, weight in spent:
            wanted -= weight
            if wanted <= self.weight_per_minute:
                return at + self.window - now
        return self.window

    def reset(self) -> None:
        """Forget all spending and bans."""
        self._spent.clear()
        self._used.clear()
        self._violations.clear()
        self._bans.clear()
        self._banned_until.clear()


class SimState:
    """Everything the simulator knows; safe to change from another thread while it serves."""

    def __init__(self, latency_ms: float = 0.0, weight_per_minute: int = 6_000, ban_after: int = 1,
                 ban_seconds: float = 120.0, hang_cap_seconds: float = 30.0, clock_skew_ms: int = 120_000,
                 window_seconds: float = 60.0):
        self.lock = threading.Lock()
        self.latency_ms = latency_ms
        self.hang_cap_seconds = hang_cap_seconds
        self.clock_skew_ms = clock_skew_ms  # how far off the "clock_skew" behaviour puts the server clock
        self.budget = WeightBudget(weight_per_minute, ban_after, ban_seconds, window_seconds)
        self.keys: dict[tuple[str, str], SimKey] = {}
        self.log: list[SignedRequest] = []
        self.refusals: list[Refusal] = []  # every 429/418 the per-IP limit answered
        self.in_flight = 0  # exchange requests being handled now (changed on the server loop only)
        self.max_in_flight = 0

    def set_key(self, exchange: str, api_key: str, secret: str, behaviour: str = "valid", **opts) -> SimKey:
        """Register or replace a key (its call count and nonce start afresh)."""
        key = SimKey(exchange, api_key, secret, behaviour, **opts)
        with self.lock:
            self.keys[(exchange, api_key)] = key
        return key

    def remove_key(self, exchange: str, api_key: str) -> None:
        """Forget a key: the exchange now answers as for a key that never existed."""
        with self.lock:
            self.keys.pop((exchange, api_key), None)

    def key(self, exchange: str, api_key: str | None) -> SimKey | None:
        """The registered key, if any."""
        return self.keys.get((exchange, api_key or ""))

    def configure(self, latency_ms: float | None = None, weight_per_minute: int | None = None,
                  ban_after: int | None = None, ban_seconds: float | None = None,
                  hang_cap_seconds: float | None = None, window_seconds: float | None = None) -> None:
        """Change server-wide settings while running."""
        with self.lock:
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if weight_per_minute is not None:
                self.budget.weight_per_minute = int(weight_per_minute)
            if ban_after is not None:
                self.budget.ban_after = int(ban_after)
            if ban_seconds is not None:
                self.budget.ban_seconds = float(ban_seconds)
            if hang_cap_seconds is not None:
                self.hang_cap_seconds = float(hang_cap_seconds)
            if window_seconds is not None:
                self.budget.window = float(window_seconds)

    async def pause(self, key: SimKey | None) -> None:
        """Sleep for the key's latency, or the server-wide default."""
        latency = key.latency_ms if key is not None and key.latency_ms is not None else self.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def hang(self) -> None:
        """Hold a request until the client gives up (aiohttp then cancels the handler) or the cap passes."""
        await asyncio.sleep(self.hang_cap_seconds)

    def charge(self, exchange: str, ip: str, weight: int) -> tuple[str, int, float]:
        """Spend request weight for one request from `ip`; refusals are logged for tests and benches."""
        with self.lock:
            verdict, used, retry_after = self.budget.charge(exchange, ip, weight, time.monotonic())
            if verdict != "ok":
                self.refusals.append(Refusal(exchange, ip, verdict, time.time(), retry_after))
            return verdict, used, retry_after

    def record(self, exchange: str, api_key: str, path: str) -> None:
        """Log one signed request."""
        with self.lock:
            self.log.append(SignedRequest(exchange, api_key, path, time.time()))

    def requests(self, api_key: str | None = None, exchange: str | None = None) -> list[SignedRequest]:
        """Signed requests received, optionally for one key and/or exchange, oldest first."""
        with self.lock:
            return [r for r in self.log
                    if (api_key is None or r.api_key == api_key) and (exchange is None or r.exchange == exchange)]

    def stats(self, timestamps: bool = False) -> dict:
        """Per exchange and key: count, first and last time (and every time when asked)."""
        summary: dict[str, dict[str, dict]] = {}
        for request in self.requests():
            entry = summary.setdefault(request.exchange, {}).setdefault(
                request.api_key, {"count": 0, "first": request.at, "last": request.at})
            entry["count"] += 1
            entry["last"] = request.at
            if timestamps:
                entry.setdefault("timestamps", []).append(request.at)
        total = sum(entry["count"] for per_key in summary.values() for entry in per_key.values())
        with self.lock:
            refused = {verdict: sum(1 for r in self.refusals if r.verdict == verdict)
                       for verdict in ("throttled", "banned")}
        return {"requests": summary, "total": total, "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight, "refused": refused}

    def reset(self, keys: bool = False) -> None:
        """Clear the request log, budgets, call counts and nonces (and every key when asked)."""
        with self.lock:
            self.log.clear()
            self.refusals.clear()
            self.budget.reset()
            self.max_in_flight = self.in_flight
            if keys:
                self.keys.clear()
            for key in self.keys.values():
                key.calls = 0
                key.last_nonce = 0


STATE = web.AppKey("credential_health_simulator_state", SimState)
