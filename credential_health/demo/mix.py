"""The demo's tenants: ~50 tenants, ~150 credentials on Binance and Kraken, with a realistic mix of faults.

Key material is random per run unless CREDENTIAL_HEALTH_DEMO_SEED is set (the leak test sets it so it
can regenerate the values and search the demo's whole output for them).
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone

from credential_health.models import EventType

TENANTS = 50
LAYOUT = (("binance", "trading"), ("binance", "readonly"), ("kraken", "trading"))

# (tenant index, layout index) -> simulator behaviour; everything else is valid.
FAULTS = {
    (3, 0): "revoked",
    (7, 2): "revoked",
    (12, 0): "revoked",
    (18, 1): "revoked",
    (25, 2): "revoked",
    (9, 0): "permission_denied",
    (31, 2): "permission_denied",
    (14, 2): "suspended",
    (40, 0): "suspended",
    (5, 1): "flaky",
    (21, 0): "flaky",
    (33, 2): "flaky",
    (44, 1): "flaky",
    (11, 0): "rate_limited",
    (36, 2): "rate_limited",
}
# (tenant index, layout index) -> what the key's exchange reports about it (all Binance keys that validate).
RISKY_SCOPES = {(2, 0): "withdraw", (16, 1): "withdraw", (29, 0): "unrestricted"}
EXPIRING_SCOPES = {(8, 1): 10, (38, 0): 2}  # days to expiry when seeded: credential.expiring at 14 and at 3 days
DEMO_EGRESS = "127.0.0.1"  # the demo's checks come from loopback: its published egress address
MALFORMED = (27, 1)  # stored without its apiKey: invalid / malformed_secret
EXPECTED_STATUS = {"valid": "valid", "flaky": "valid", "rate_limited": "unknown"}  # the rest: invalid


@dataclass(frozen=True)
class DemoCredential:
    tenant_id: str
    exchange: str
    credential_type: str
    behaviour: str
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    scope: str = "safe"  # safe, withdraw, unrestricted or expiring
    expires_in_days: int | None = None

    @property
    def expected_status(self) -> str:
        return EXPECTED_STATUS.get(self.behaviour, "invalid")

    @property
    def path(self) -> str:
        return f"{self.tenant_id}/{self.exchange}/{self.credential_type}"

    def vault_data(self) -> dict[str, str]:
        data = {"apiKey": self.api_key, "secret": self.secret}
        if self.behaviour == "malformed":
            del data["apiKey"]
        return data


def _keys(rng: random.Random, exchange: str) -> tuple[str, str]:
    alphabet = string.ascii_letters + string.digits
    if exchange == "binance":  # 64-character alphanumeric key and secret, as Binance issues them
        return "".join(rng.choices(alphabet, k=64)), "".join(rng.choices(alphabet, k=64))
    # Kraken: a 56-character key and a base64 secret of 64 bytes
    return "".join(rng.choices(alphabet + "+/", k=56)), base64.b64encode(rng.randbytes(64)).decode()


def demo_credentials(seed: str | None) -> list[DemoCredential]:
    rng = random.Random(seed) if seed else random.SystemRandom()
    credentials = []
    for t in range(TENANTS):
        for index, (exchange, credential_type) in enumerate(LAYOUT):
            behaviour = "malformed" if (t, index) == MALFORMED else FAULTS.get((t, index), "valid")
            api_key, secret = _keys(rng, exchange)
            scope = RISKY_SCOPES.get((t, index), "expiring" if (t, index) in EXPIRING_SCOPES else "safe")
            credentials.append(
                DemoCredential(
                    f"tenant-{t:02d}",
                    exchange,
                    credential_type,
                    behaviour,
                    api_key,
                    secret,
                    scope,
                    EXPIRING_SCOPES.get((t, index)),
                )
            )
    return credentials


def simulator_scopes() -> bool:
    """Whether the simulator takes a key's scope (for its key-information endpoints): then the demo seeds them."""
    from credential_health.sandbox.keys import SimKey

    return "scope" in {f.name for f in fields(SimKey)}


def scopes_reported(exchange: str = "binance") -> bool:
    """Whether checks of `exchange` (the demo's risky keys) read its key information: then scope events follow."""
    try:
        from credential_health.scopes.normalise import MODULES
    except ImportError:  # no key-information probe in this build
        return False
    return simulator_scopes() and exchange in MODULES


def scope_option(credential: DemoCredential, now: datetime) -> dict:
    """The simulator's per-key `scope` option: what the exchange reports the key may do, and from where."""
    scope = {"withdraw": False, "trade": True, "transfer": False, "ip_allowlist": [DEMO_EGRESS], "expires_at": None}
    if credential.scope == "withdraw":
        scope.update(withdraw=True, ip_allowlist=None)
    elif credential.scope == "unrestricted":
        scope.update(ip_allowlist=None)
    elif credential.scope == "expiring" and credential.expires_in_days is not None:
        expires = now + timedelta(days=credential.expires_in_days, hours=1)
        scope["expires_at"] = int(expires.timestamp())  # the simulator's scope takes Unix seconds
    return scope


def expected_scope_events(credentials: list[DemoCredential]) -> dict[str, int]:
    """The scope events one demo run sends: one scope_risk per risky key, one expiring per expiring key."""
    return {
        EventType.EXPIRING: sum(c.scope == "expiring" and c.expected_status == "valid" for c in credentials),
        EventType.SCOPE_RISK: sum(
            c.scope in ("withdraw", "unrestricted") and c.expected_status == "valid" for c in credentials
        ),
    }


def simulator_keys(credentials: list[DemoCredential], scopes: bool = False) -> list[dict]:
    """The keys as the simulated exchanges know them (the malformed one is unknown there), with their scope
    when `scopes` (the simulator reports them)."""
    now = datetime.now(timezone.utc)
    keys = []
    for c in credentials:
        if c.behaviour == "malformed":
            continue
        entry: dict[str, object] = {
            "exchange": c.exchange,
            "api_key": c.api_key,
            "secret": c.secret,
            "behaviour": c.behaviour,
        }
        if c.behaviour == "flaky":
            entry.update(fail_first=1, fail_with="server_error")
        if scopes:
            entry["scope"] = scope_option(c, now)
        keys.append(entry)
    return keys
