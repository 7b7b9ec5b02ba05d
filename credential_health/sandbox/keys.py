"""Scripted API keys, the signed-request log and the per-IP request-weight budget of the simulator."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass, field

from aiohttp import web

from credential_health.sandbox.transport import BEHAVIOURS as TRANSPORT_BEHAVIOURS
from credential_health.sandbox.weights import WeightBudget

EXCHANGES = ("binance", "kraken", "coinbase", "kucoin", "okx", "bybit")
BEHAVIOURS = (
    "valid",
    "revoked",
    "bad_key_format",
    "bad_signature",
    "permission_denied",
    "suspended",
    "rate_limited",
    "timeout",
    "server_error",
    "maintenance",
    "clock_skew",
    "flaky",
    *TRANSPORT_BEHAVIOURS,
)
# A key's scope, shared by every exchange: each exchange module renders it in its key-information endpoint's own
# field names. trade/withdraw/transfer: what the key may do; ip_allowlist: addresses or CIDR blocks ([] = any
# address); expires_at: Unix seconds (None = never); answer: how that endpoint answers ("valid", any behaviour,
# or "malformed": a 200 without the documented fields). Unset fields take these defaults.
DEFAULT_SCOPE: dict = {
    "trade": True,
    "withdraw": False,
    "transfer": False,
    "ip_allowlist": [],
    "expires_at": None,
    "answer": "valid",
}
SCOPE_ANSWERS = (*(name for name in BEHAVIOURS if name != "flaky"), "malformed")


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
    scope: dict = field(default_factory=dict)  # overrides of DEFAULT_SCOPE

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {self.exchange!r}; expected one of {EXCHANGES}")
        for name in (self.behaviour, self.fail_with, self.then):
            if name not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {name!r}; expected one of {BEHAVIOURS}")
        if not isinstance(self.scope, dict):
            raise TypeError("scope must be an object")
        unknown = set(self.scope) - set(DEFAULT_SCOPE)
        if unknown:
            raise ValueError(f"unknown scope fields {sorted(unknown)}; expected some of {sorted(DEFAULT_SCOPE)}")
        expires = self.scope_of("expires_at")
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))):
            raise ValueError(f"scope expires_at must be Unix seconds or null, not {expires!r}")
        if self.scope_of("answer") not in SCOPE_ANSWERS:
            raise ValueError(f"unknown scope answer {self.scope_of('answer')!r}; expected one of {SCOPE_ANSWERS}")

    def scope_of(self, name: str):
        """One field of the key's scope (its default when unset)."""
        return self.scope.get(name, DEFAULT_SCOPE[name])

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


class SimState:
    """Everything the simulator knows; safe to change from another thread while it serves."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        weight_per_minute: int = 6_000,
        ban_after: int = 1,
        ban_seconds: float = 120.0,
        hang_cap_seconds: float = 30.0,
        clock_skew_ms: int = 120_000,
        window_seconds: float = 60.0,
        sapi_weight_per_minute: int = 12_000,
    ):
        self.lock = threading.Lock()
        self.sapi_weight_per_minute = sapi_weight_per_minute  # Binance: each IP-limited /sapi endpoint's own pool
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

    def configure(
        self,
        latency_ms: float | None = None,
        weight_per_minute: int | None = None,
        ban_after: int | None = None,
        ban_seconds: float | None = None,
        hang_cap_seconds: float | None = None,
        window_seconds: float | None = None,
        sapi_weight_per_minute: int | None = None,
    ) -> None:
        """Change server-wide settings while running."""
        with self.lock:
            if sapi_weight_per_minute is not None:
                self.sapi_weight_per_minute = int(sapi_weight_per_minute)
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

    def charge(
        self, exchange: str, ip: str, weight: int, limit: int | None = None, bans: bool = True
    ) -> tuple[str, int, float]:
        """Spend request weight for one request from `ip`; refusals are logged for tests and benches."""
        with self.lock:
            verdict, used, retry_after = self.budget.charge(exchange, ip, weight, time.monotonic(), limit, bans)
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
            return [
                r
                for r in self.log
                if (api_key is None or r.api_key == api_key) and (exchange is None or r.exchange == exchange)
            ]

    def stats(self, timestamps: bool = False) -> dict:
        """Per exchange and key: count, first and last time (and every time when asked)."""
        summary: dict[str, dict[str, dict]] = {}
        for request in self.requests():
            entry = summary.setdefault(request.exchange, {}).setdefault(
                request.api_key, {"count": 0, "first": request.at, "last": request.at}
            )
            entry["count"] += 1
            entry["last"] = request.at
            if timestamps:
                entry.setdefault("timestamps", []).append(request.at)
        total = sum(entry["count"] for per_key in summary.values() for entry in per_key.values())
        with self.lock:
            refused = {
                verdict: sum(1 for r in self.refusals if r.verdict == verdict) for verdict in ("throttled", "banned")
            }
        return {
            "requests": summary,
            "total": total,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "refused": refused,
        }

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
