"""The simulator's per-IP request-weight pools (Binance's limits; a pool per exchange, or per Binance sapi endpoint)."""

from __future__ import annotations

from collections import deque


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

    def charge(
        self, exchange: str, ip: str, weight: int, now: float, limit: int | None = None, bans: bool = True
    ) -> tuple[str, int, float]:
        """Spend weight in the `exchange` pool (its own `limit`, else weight_per_minute; `bans`: whether ignoring
        429s earns a 418); return ("ok" | "throttled" | "banned", weight used this window, Retry-After seconds)."""
        limit = self.weight_per_minute if limit is None else limit
        key = (exchange, ip)
        spent = self._spent.setdefault(key, deque())
        used = self._used.get(key, 0)
        while spent and spent[0][0] <= now - self.window:
            used -= spent.popleft()[1]
        self._used[key] = used
        banned_until = self._banned_until.get(key, 0.0)
        if now < banned_until:
            return "banned", used, banned_until - now
        if used + weight <= limit:
            spent.append((now, weight))  # only served requests are charged (Binance documents neither way)
            self._used[key] = used + weight
            self._violations[key] = 0
            return "ok", used + weight, 0.0
        violations = self._violations[key] = self._violations.get(key, 0) + 1
        if bans and violations > self.ban_after:  # the client did not back off after ban_after 429s
            ban_count = self._bans[key] = self._bans.get(key, 0) + 1
            length = min(self.ban_seconds * 2 ** (ban_count - 1), self.MAX_BAN_SECONDS)
            self._banned_until[key] = now + length
            return "banned", used, length
        return "throttled", used + weight, self._frees_in(spent, used + weight, now, limit)

    def _frees_in(self, spent: deque[tuple[float, int]], wanted: int, now: float, limit: int) -> float:
        """Seconds until enough weight leaves the window for `wanted` (this request included) to fit."""
        for at, weight in spent:
            wanted -= weight
            if wanted <= limit:
                return at + self.window - now
        return self.window

    def used(self, exchange: str, ip: str) -> int:
        """Weight charged to a pool (`exchange`, e.g. "binance" or "binance/sapi/v1/...") from `ip` (in the
        window as of the last charge)."""
        return self._used.get((exchange, ip), 0)

    def reset(self) -> None:
        """Forget all spending and bans."""
        self._spent.clear()
        self._used.clear()
        self._violations.clear()
        self._bans.clear()
        self._banned_until.clear()
