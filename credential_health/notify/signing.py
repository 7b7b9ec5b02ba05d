"""Standard Webhooks signing (https://www.standardwebhooks.com) plus the seed's `X-Credential-Health-*` headers.

Standard Webhooks: `webhook-signature` is `v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body)>`,
one per secret, space-separated, so old and new secrets both sign during a rotation. `key` is the
base64-decoded part of a `whsec_…` secret, never the `whsec_…` text itself.

Seed style: `X-Credential-Health-Signature: sha256=<hex HMAC-SHA256(key, f"{timestamp}.".encode() + body)>`,
signed with the same decoded key bytes of the newest secret only (the first in the list).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
MESSAGE_ID_PREFIX = "msg_"
SEED_SIGNATURE_HEADER = "X-Credential-Health-Signature"
SEED_TIMESTAMP_HEADER = "X-Credential-Health-Timestamp"
SEED_EVENT_HEADER = "X-Credential-Health-Event"
# Lower-case names of the headers that carry signatures: never logged, stored or recorded.
SIGNATURE_HEADERS = frozenset({"webhook-signature", SEED_SIGNATURE_HEADER.lower()})


def generate_secret() -> str:
    """A new signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (its base64-decoded tail); the error never echoes the secret."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must start with 'whsec_'")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from None
    if len(key) < 16:
        raise ValueError("webhook secret is too short (fewer than 16 key bytes)")
    return key


def new_message_id(seed: str | None = None) -> str:
    """`msg_` + a url-safe token without `.`; with a seed (a stable event key) always the same id for that seed."""
    if seed is None:
        return MESSAGE_ID_PREFIX + _random.token_urlsafe(24)
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return MESSAGE_ID_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _hmac(key: bytes, *parts: bytes) -> hmac.HMAC:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac


def signing_keys(msg_id: str, body: bytes, secrets: Sequence[str]) -> list[bytes]:
    """Check what signing needs (bytes body, id without `.`, valid secrets) and return the keys, newest first."""
    if not isinstance(body, bytes):
        raise TypeError("body must be the serialised bytes that are sent")
    if not msg_id or "." in msg_id:
        raise ValueError("webhook message id must be non-empty and contain no '.'")
    if isinstance(secrets, str) or not secrets:
        raise ValueError("a non-empty list of webhook secrets is needed to sign")
    return [secret_key(s) for s in secrets]


def sign_headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str], event_type: str) -> dict[str, str]:
    """All headers of one attempt: Standard Webhooks (one signature per secret) and the seed-style ones.

    `secrets` is ordered newest first; `body` is the exact bytes that will be sent.
    """
    keys = signing_keys(msg_id, body, secrets)
    ts = str(int(timestamp))
    signed = f"{msg_id}.{ts}.".encode()
    signatures = " ".join("v1," + base64.b64encode(_hmac(k, signed, body).digest()).decode("ascii") for k in keys)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": signatures,
        SEED_SIGNATURE_HEADER: "sha256=" + _hmac(keys[0], f"{ts}.".encode(), body).hexdigest(),
        SEED_TIMESTAMP_HEADER: ts,
        SEED_EVENT_HEADER: event_type,
    }
