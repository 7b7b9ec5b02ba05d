"""Standard Webhooks signing, checked with the `standardwebhooks` receiver library and plain hmac."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from credential_health.notify.signing import generate_secret, new_message_id, secret_key, sign_headers
from credential_health.sandbox.seed_signature import verify_seed_signature

# Deliberately odd spacing and a non-ASCII character: only these exact bytes may be signed and sent.
BODY = '{"type": "credential.failed",  "data":{"tenant_id":"t-1","note":"é"}}'.encode()


def test_generated_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert secret_key(first) == base64.b64decode(first.removeprefix("whsec_"))


def test_message_ids_have_no_dot_and_seeded_ids_are_stable() -> None:
    random_ids = {new_message_id() for _ in range(50)}
    assert len(random_ids) == 50
    assert all(i.startswith("msg_") and "." not in i for i in random_ids)
    key = "evt:t-1:binance:trading:2026-01-01T06"
    assert new_message_id(key) == new_message_id(key)
    assert new_message_id("evt:a") != new_message_id("evt:b")
    assert "." not in new_message_id("a.b.c")


def test_standardwebhooks_library_verifies_our_headers() -> None:
    secret, msg_id, ts = generate_secret(), new_message_id("e1"), int(time.time())
    headers = sign_headers(msg_id, ts, BODY, [secret], "credential.failed")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == msg_id
    assert headers["webhook-timestamp"] == str(ts) and headers["webhook-timestamp"].isdigit()
    assert headers["X-Credential-Health-Timestamp"] == str(ts)
    assert headers["X-Credential-Health-Event"] == "credential.failed"
    assert headers["Content-Type"] == "application/json"


def test_rotation_old_and_new_secret_each_verify_independently() -> None:
    new, old, stranger = generate_secret(), generate_secret(), generate_secret()
    headers = sign_headers(new_message_id(), int(time.time()), BODY, [new, old], "credential.failed")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_tampering_fails_verification() -> None:
    secret = generate_secret()
    headers = sign_headers(new_message_id(), int(time.time()), BODY, [secret], "credential.failed")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"t-1", b"t-2"), headers)
    # Re-serialising the same JSON changes the bytes, so it must not verify either.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(json.dumps(json.loads(BODY)).encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": new_message_id()})


def test_seed_header_matches_a_plain_hmac_with_the_newest_secret() -> None:
    new, old, ts = generate_secret(), generate_secret(), int(time.time())
    headers = sign_headers(new_message_id(), ts, BODY, [new, old], "credential.recovered")
    key = base64.b64decode(new.removeprefix("whsec_"))  # the decoded key bytes, not the whsec_ text
    expected = hmac.new(key, f"{ts}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Credential-Health-Signature"] == f"sha256={expected}"
    assert verify_seed_signature(BODY, headers["X-Credential-Health-Timestamp"], f"sha256={expected}", [new])
    assert not verify_seed_signature(BODY, ts, f"sha256={expected}", [old])
    assert not verify_seed_signature(BODY + b" ", ts, f"sha256={expected}", [new])
    assert not verify_seed_signature(BODY, ts, f"sha256={expected}", [new], now=ts + 301)


def test_bad_inputs_are_refused_without_echoing_the_secret() -> None:
    with pytest.raises(ValueError) as exc:
        secret_key("whsec_!!!not-base64!!!")
    assert "not-base64" not in str(exc.value)
    with pytest.raises(ValueError):
        secret_key("sk_live_abc")
    with pytest.raises(ValueError):
        sign_headers("msg_a.b", 1, BODY, [generate_secret()], "x")
    with pytest.raises(ValueError):
        sign_headers("msg_a", 1, BODY, [], "x")
    with pytest.raises(TypeError):
        sign_headers("msg_a", 1, BODY.decode(), [generate_secret()], "x")  # type: ignore[arg-type]  # the wrong type on purpose
