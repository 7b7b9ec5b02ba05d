"""Delivery over real HTTP (and TLS) to the real receiver on 127.0.0.1: retries, pinning, SNI, outcomes."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from credential_health.notify.signing import new_message_id
from credential_health.notify.transport import DeliveryPolicy, WebhookTransport, parse_retry_after
from credential_health.sandbox.webhook_receiver import WebhookReceiver
from credential_health.settings import Settings

BODY = b'{"type":"credential.failed","data":{"tenant_id":"t-1"}}'
FAST = DeliveryPolicy(timeout_seconds=2, retries=3, backoff_base_seconds=0.01, retry_after_cap_seconds=5)


def deliver(url: str, secret: str, policy: DeliveryPolicy = FAST, **kwargs: Any) -> Any:
    """Run one delivery with a fresh transport; kwargs go to `deliver` (allow_private defaults to True)."""
    transport_kwargs = {k: kwargs.pop(k) for k in ("clock", "verify") if k in kwargs}
    kwargs.setdefault("allow_private", True)
    msg_id = kwargs.pop("msg_id", new_message_id("event-1"))

    async def run() -> Any:
        async with WebhookTransport(policy, **transport_kwargs) as transport:
            return await transport.deliver(url, BODY, msg_id, "credential.failed", [secret], **kwargs)

    return asyncio.run(run())


def test_5xx_retried_until_delivered_with_fresh_timestamps_and_one_id(
    webhook_receiver: WebhookReceiver, webhook_secret: str
) -> None:
    webhook_receiver.script("/hooks/t-1", [500, 503, 200])
    ticks = itertools.count(int(time.time()))  # a clock that moves one second per signature
    outcome = deliver(webhook_receiver.url_for("/hooks/t-1"), webhook_secret, clock=lambda: next(ticks))

    assert outcome.delivered and not outcome.gone and outcome.retry_after is None
    assert [a.status_code for a in outcome.attempts] == [500, 503, 200]
    assert [a.error for a in outcome.attempts] == ["http_500", "http_503", None]
    assert [a.attempt_no for a in outcome.attempts] == [1, 2, 3]
    assert all(a.started_at.tzinfo == dt.timezone.utc and a.duration_ms >= 0 for a in outcome.attempts)
    seen = webhook_receiver.received("/hooks/t-1")
    assert len(seen) == 3 and all(r.verified and r.seed_verified for r in seen)
    assert {r.headers["webhook-id"] for r in seen} == {new_message_id("event-1")}
    stamps = [int(r.headers["webhook-timestamp"]) for r in seen]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3  # fresh per attempt
    assert all(r.body == BODY for r in seen)
    assert len(webhook_receiver.accepted("/hooks/t-1")) == 1


def test_429_retry_after_is_honoured(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [{"status": 429, "retry_after": 1}, 200])
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    assert outcome.delivered and [a.status_code for a in outcome.attempts] == [429, 200]
    first, second = webhook_receiver.received("/h")
    assert (second.received_at - first.received_at).total_seconds() >= 0.95


def test_retry_after_above_the_cap_stops_and_reports_it(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [{"status": 429, "retry_after": 120}])
    start = time.monotonic()
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    assert time.monotonic() - start < 1
    assert not outcome.delivered and outcome.retry_after == 120 and len(outcome.attempts) == 1
    assert outcome.error == "http_429"


def test_timeout_is_retried(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [{"status": 200, "delay": 3}, 200])
    policy = DeliveryPolicy(timeout_seconds=0.3, retries=3, backoff_base_seconds=0.01)
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret, policy)
    assert outcome.delivered and [a.error for a in outcome.attempts] == ["timeout", None]
    assert outcome.attempts[0].status_code is None and 250 <= outcome.attempts[0].duration_ms < 1500
    assert len(webhook_receiver.received("/h")) == 2 and len(webhook_receiver.accepted("/h")) == 1


@pytest.mark.parametrize(("status", "error"), [(400, "http_400"), (401, "http_401"), (404, "http_404")])
def test_other_4xx_are_not_retried(
    webhook_receiver: WebhookReceiver, webhook_secret: str, status: int, error: str
) -> None:
    webhook_receiver.script("/h", [status])
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    assert not outcome.delivered and not outcome.gone and outcome.error == error
    assert len(outcome.attempts) == 1 and len(webhook_receiver.received("/h")) == 1


def test_410_means_gone_without_retry(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [410])
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    assert outcome.gone and not outcome.delivered and len(outcome.attempts) == 1
    assert outcome.attempts[0].status_code == 410


def test_redirect_to_a_private_address_is_not_followed(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    internal = webhook_receiver.url_for("/internal/admin")
    webhook_receiver.script("/h", [{"status": 302, "headers": {"Location": internal}}])
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    assert not outcome.delivered and outcome.error == "http_302: redirect not followed" and len(outcome.attempts) == 1
    assert webhook_receiver.received("/internal/admin") == []


def test_receiver_down_uses_every_attempt(closed_port: int, webhook_secret: str) -> None:
    outcome = deliver(f"http://127.0.0.1:{closed_port}/h", webhook_secret)
    assert not outcome.delivered and len(outcome.attempts) == 4
    assert {a.error for a in outcome.attempts} == {"connect_error"}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_unsafe_url_at_send_time_sends_nothing(
    webhook_receiver: WebhookReceiver, webhook_secret: str, scheme: str
) -> None:
    outcome = deliver(f"{scheme}://127.0.0.1:{webhook_receiver.port}/h", webhook_secret, allow_private=False)
    assert not outcome.delivered and outcome.error.startswith("unsafe_url: ") and len(outcome.attempts) == 1
    assert outcome.attempts[0].status_code is None
    assert webhook_receiver.received() == []


def test_connects_to_the_checked_address_with_the_original_host(
    webhook_receiver: WebhookReceiver, webhook_secret: str, stub_resolver: Callable[..., Any]
) -> None:
    resolver = stub_resolver({"hooks.tenant.test": ["127.0.0.1"]})
    webhook_receiver.script("/h", [500, 200])
    outcome = deliver(f"http://hooks.tenant.test:{webhook_receiver.port}/h", webhook_secret, resolver=resolver)
    assert outcome.delivered
    assert resolver.calls == ["hooks.tenant.test"] * 2  # one check per attempt; httpx itself never resolves
    for request in webhook_receiver.received("/h"):
        assert request.headers["host"] == f"hooks.tenant.test:{webhook_receiver.port}"
        assert request.peer == "127.0.0.1" and request.verified


def test_response_excerpt_is_truncated_to_4_kb(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [{"status": 400, "body": "é" * 5000}])  # 10,000 bytes
    outcome = deliver(webhook_receiver.url_for("/h"), webhook_secret)
    excerpt = outcome.attempts[0].response_excerpt
    assert len(excerpt.encode()) <= 4096 + 2 and excerpt.startswith("éé") and len(excerpt) == 2048


def test_records_hold_no_secret_or_signature(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/h", [500, 200])
    text = repr(deliver(webhook_receiver.url_for("/h"), webhook_secret))
    assert webhook_secret not in text and "whsec_" not in text and "v1," not in text and "sha256=" not in text


def test_bad_secret_raises_before_any_request(webhook_receiver: WebhookReceiver) -> None:
    with pytest.raises(ValueError):
        deliver(webhook_receiver.url_for("/h"), "whsec_%%%")
    assert webhook_receiver.received() == []


def test_one_transport_bounds_requests_in_flight_across_concurrent_deliveries(
    webhook_receiver: WebhookReceiver, webhook_secret: str
) -> None:
    # The dispatcher's shape: many `deliver` calls at once on one transport sized by WEBHOOK_CONCURRENCY.
    webhook_receiver.set_latency(0.3)
    webhook_receiver.script("/t/3", [400])
    in_flight: list[int] = []

    async def run() -> list[Any]:
        async with WebhookTransport(FAST, max_connections=3) as transport:
            deliveries = asyncio.gather(
                *(
                    transport.deliver(
                        webhook_receiver.url_for(f"/t/{i}"),
                        BODY,
                        new_message_id(f"e{i}"),
                        "credential.failed",
                        [webhook_secret],
                        allow_private=True,
                    )
                    for i in range(10)
                )
            )
            while not deliveries.done():  # the receiver's view: requests arrived and not yet answered
                in_flight.append(sum(not r.answered for r in webhook_receiver.received()))
                await asyncio.sleep(0.01)
            return await deliveries

    outcomes = asyncio.run(run())
    assert 2 <= max(in_flight) <= 3
    assert [o.delivered for o in outcomes] == [i != 3 for i in range(10)]
    accepted = {r.headers["webhook-id"] for r in webhook_receiver.accepted()}
    assert accepted == {new_message_id(f"e{i}") for i in range(10) if i != 3}


def test_policy_from_settings_and_backoff() -> None:
    policy = DeliveryPolicy.from_settings(Settings.from_env({}))
    assert (policy.timeout_seconds, policy.retries, policy.backoff_base_seconds, policy.retry_after_cap_seconds) == (
        10,
        3,
        1,
        60,
    )
    exact = DeliveryPolicy(jitter=False)
    assert [exact.backoff(n) for n in range(3)] == [1, 2, 4]
    assert all(0.8 * 2**n <= policy.backoff(n) <= 1.2 * 2**n for n in range(3) for _ in range(20))


def test_parse_retry_after() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("3", now) == 3 and parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:10 GMT", now) == 10
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("-5", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


# -- TLS: the checked IP is dialled while SNI, certificate check and Host use the tenant's name ---------
def _tls_contexts(names: list[str]) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """(server context presenting a self-signed cert for `names` and recording SNI, client context trusting it,
    SNI log)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*_write_pair(cert_pem, key))
    sni: list[str] = []
    server.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc]  # typeshed types the callback narrowly
    return server, ssl.create_default_context(cadata=cert_pem.decode()), sni


def _write_pair(cert_pem: bytes, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    import tempfile

    folder = tempfile.mkdtemp(prefix="webhook-tls-")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    paths = (f"{folder}/cert.pem", f"{folder}/key.pem")
    for path, data in zip(paths, (cert_pem, key_pem), strict=True):
        with open(path, "wb") as handle:
            handle.write(data)
    return paths


def test_tls_uses_sni_and_verifies_the_original_hostname(
    webhook_secret: str, stub_resolver: Callable[..., Any]
) -> None:
    server, client, sni = _tls_contexts(["hooks.tenant.test", "other.tenant.test"])
    resolver = stub_resolver(
        {n: ["127.0.0.1"] for n in ("hooks.tenant.test", "other.tenant.test", "wrong.tenant.test")}
    )
    with WebhookReceiver(secrets=[webhook_secret], ssl_context=server) as receiver:

        async def run() -> list[Any]:
            async with WebhookTransport(FAST, verify=client) as transport:
                return [
                    await transport.deliver(
                        f"https://{name}:{receiver.port}/h",
                        BODY,
                        new_message_id(),
                        "credential.failed",
                        [webhook_secret],
                        resolver=resolver,
                        allow_private=True,
                    )
                    for name in ("hooks.tenant.test", "other.tenant.test", "wrong.tenant.test")
                ]

        hooks, other, wrong = asyncio.run(run())
        assert hooks.delivered and other.delivered
        # Each host got its own handshake with its own name: a TLS session is never shared across hosts.
        assert sni[:2] == ["hooks.tenant.test", "other.tenant.test"]
        assert [r.headers["host"] for r in receiver.received()] == [
            f"hooks.tenant.test:{receiver.port}",
            f"other.tenant.test:{receiver.port}",
        ]
        # The certificate is checked against the tenant's name, not the dialled IP: a mismatch fails, unretried.
        assert not wrong.delivered and wrong.error == "tls_error" and len(wrong.attempts) == 1
