"""A thread-safe Vault client: one hvac session per thread, re-login on expiry, errors mapped to VaultError."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

from credential_health.settings import Settings
from credential_health.vault import errors, paths
from credential_health.vault.auth import Login, TokenAuth, VaultAuth, auth_from_settings
from credential_health.vault.errors import NotFound, VaultAuthError, for_status, needs, timed_out, unreachable

log = logging.getLogger(__name__)
T = TypeVar("T")
# hvac raises one exception class per HTTP status (hvac.utils.raise_for_error); the statuses they stand for.
HVAC_STATUS = {
    hvac_errors.InvalidRequest: 400,
    hvac_errors.Unauthorized: 401,
    hvac_errors.Forbidden: 403,
    hvac_errors.InvalidPath: 404,
    hvac_errors.RateLimitExceeded: 429,
    hvac_errors.InternalServerError: 500,
    hvac_errors.VaultNotInitialized: 501,
    hvac_errors.BadGateway: 502,
    hvac_errors.VaultDown: 503,
}


class VaultClient:
    """Talks to one Vault; safe to share between threads (each thread gets its own HTTP session)."""

    def __init__(self, addr: str, auth: VaultAuth, *, timeout: float = 10.0, namespace: str | None = None):
        self.addr = addr
        self.auth = auth
        self.timeout = timeout
        self.namespace = namespace or None
        self._local = threading.local()
        self._login: Login | None = None
        self._login_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultClient:
        return cls(
            settings.vault_addr,
            auth_from_settings(settings),
            timeout=settings.vault_timeout_seconds,
            namespace=settings.vault_namespace,
        )

    @property
    def can_relogin(self) -> bool:
        """Token auth cannot log in again; AppRole and Kubernetes can."""
        return not isinstance(self.auth, TokenAuth)

    def _hvac(self) -> hvac.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            # token="" stops hvac from silently picking up ~/.vault-token or $VAULT_TOKEN.
            client = hvac.Client(url=self.addr, token="", timeout=self.timeout, namespace=self.namespace)
            self._local.client = client
        return client

    def token(self, force_login: bool = False) -> str:
        """A current token, logging in (again) when there is none, it is expiring, or `force_login`."""
        with self._login_lock:
            if force_login or self._login is None or self._login.expiring():
                self._login = self._map_errors("login", f"auth/{self.auth.name}", lambda: self.auth.login(self._hvac()))
                log.info("Vault login with %s auth succeeded", self.auth.name)
            return self._login.token

    def call(self, operation: str, api_path: str, policy_hint: str, fn: Callable[[hvac.Client], T]) -> T:
        """Run `fn` with an authenticated hvac client, mapping failures to clear VaultErrors."""
        client = self._hvac()
        client.token = self.token()
        try:
            return self._map_errors(operation, api_path, lambda: fn(client), policy_hint)
        except errors.Forbidden as denied:
            # An expired or revoked token also answers 403: log in again once (if we can), else say which.
            if self.can_relogin:
                client.token = self.token(force_login=True)
                return self._map_errors(operation, api_path, lambda: fn(client), policy_hint)
            raise self.refused(denied) from None

    def refused(self, denied: errors.Forbidden) -> errors.VaultError:
        """What a 401/403 that no new login cures means: a dead token, or a policy without the capability."""
        if not self.token_is_valid():
            return VaultAuthError("the Vault token is invalid, expired or revoked")
        return denied

    def token_is_valid(self) -> bool:
        client = self._hvac()
        client.token = self.token()
        try:
            client.auth.token.lookup_self()
            return True
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            return False

    def _map_errors(self, operation: str, api_path: str, fn: Callable[[], T], policy_hint: str = "") -> T:
        try:
            return fn()
        except hvac_errors.VaultError as exc:
            status = HVAC_STATUS.get(type(exc))
            if operation == "login" and status in (400, 401, 403):  # a wrong role or secret id is a 400 on AppRole
                raise VaultAuthError(f"Vault rejected the {self.auth.name} login at {api_path}") from None
            if status is None:  # hvac's UnexpectedError and the like: no status to go by
                raise errors.VaultError(f"Vault error during {operation} on {api_path}: {type(exc).__name__}") from None
            raise for_status(status, operation, api_path, self.addr, policy_hint) from None
        except requests.exceptions.Timeout:
            raise timed_out(self.addr, operation, self.timeout) from None
        except requests.exceptions.ConnectionError:
            raise unreachable(self.addr, operation) from None

    # KV v2 primitives -------------------------------------------------------------------------

    def list_keys(self, mount: str, path: str) -> list[str]:
        """LIST {mount}/metadata/{path}: child names, folders ending in '/'; [] when the folder is absent."""
        api_path = paths.metadata(mount, path)
        try:
            response = self.call(
                "list",
                api_path,
                needs('["list"]', f"{api_path}/*"),
                lambda c: c.secrets.kv.v2.list_secrets(path=path, mount_point=mount),
            )
        except NotFound:
            return []
        return list(response["data"]["keys"])

    def read(self, mount: str, path: str) -> dict:
        """Read the current version of {mount}/data/{path}; NotFound when absent or deleted."""
        api_path = paths.data(mount, path)
        response = self.call(
            "read",
            api_path,
            needs('["read"]', api_path),
            lambda c: c.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True),
        )
        return response["data"]["data"] or {}

    def write(self, mount: str, path: str, data: dict) -> None:
        api_path = paths.data(mount, path)
        self.call(
            "write",
            api_path,
            needs('["create", "update"]', api_path),
            lambda c: c.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=mount),
        )
