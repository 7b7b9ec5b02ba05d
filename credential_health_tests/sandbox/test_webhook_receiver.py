"""The webhook receiver: verification per path, scripted answers, records, HTTP control API, process mode."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from credential_health.notify.signing import generate_secret, new_message_id, sign_headers
from credential_health.sandbox.webhook_receiver import WebhookReceiver

BODY = b'{"type":"webhook.test","data":{}}'


def post(url: str, secrets: list[str], body: bytes = BODY, timeout: float = 5) -> httpx.Response:
    """A correctly signed POST."""
    headers = sign_headers(new_message_id(), int(time.time()), body, secrets, "webhook.test")
    return httpx.post(url, content=body, headers=headers, timeout=timeout, trust_env=False)


def test_script_is_consumed_in_order_per_path_then_200(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.script("/a", [500, {"status": 429, "retry_after": 7, "body": "slow down"}])
    webhook_receiver.script("/b", [404])
    first, second, third = (post(webhook_receiver.url_for("/a"), [webhook_secret]) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (500, 429, 200)
    assert second.headers["Retry-After"] == "7" and second.text == "slow down"
    assert post(webhook_receiver.url_for("/b"), [webhook_secret]).status_code == 404
    assert post(webhook_receiver.url_for("/b"), [webhook_secret]).status_code == 200
    assert [r.status for r in webhook_receiver.received("/a")] == [500, 429, 200]
    assert len(webhook_receiver.received()) == 5
    assert [r.status for r in webhook_receiver.accepted()] == [200, 200]


def test_each_path_has_its_own_secrets_and_refuses_what_it_cannot_verify(webhook_receiver: WebhookReceiver) -> None:
    tenant_a, tenant_b, old_b = generate_secret(), generate_secret(), generate_secret()
    webhook_receiver.set_secrets("/hooks/a", [tenant_a])
    webhook_receiver.set_secrets("/hooks/b", [tenant_b, old_b])  # rotation: either verifies
    webhook_receiver.script("/hooks/b", [503])
    assert post(webhook_receiver.url_for("/hooks/a"), [tenant_a]).status_code == 200
    assert post(webhook_receiver.url_for("/hooks/b"), [tenant_a]).status_code == 401  # script untouched
    assert post(webhook_receiver.url_for("/hooks/b"), [old_b]).status_code == 503
    assert post(webhook_receiver.url_for("/hooks/b"), [tenant_b]).status_code == 200
    refused = webhook_receiver.received("/hooks/b")[0]
    assert not refused.verified and not refused.seed_verified and "No matching signature" in refused.verify_error
    assert [r.verified for r in webhook_receiver.received("/hooks/b")] == [False, True, True]


def test_records_keep_body_and_headers_but_never_signatures(
    webhook_receiver: WebhookReceiver, webhook_secret: str
) -> None:
    post(webhook_receiver.url_for("/h"), [webhook_secret])
    (record,) = webhook_receiver.received("/h")
    assert record.body == BODY and record.json() == {"type": "webhook.test", "data": {}}
    assert record.verified and record.seed_verified and record.answered and record.peer == "127.0.0.1"
    assert record.received_at.tzinfo is not None and record.method == "POST"
    assert record.headers["webhook-id"].startswith("msg_")
    assert record.headers["x-credential-health-event"] == "webhook.test"
    assert "webhook-signature" not in record.headers and "x-credential-health-signature" not in record.headers


def test_tampered_body_is_recorded_unverified(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    headers = sign_headers(new_message_id(), int(time.time()), BODY, [webhook_secret], "webhook.test")
    response = httpx.post(webhook_receiver.url_for("/h"), content=BODY + b" ", headers=headers, trust_env=False)
    assert response.status_code == 401
    assert not webhook_receiver.received("/h")[0].verified and webhook_receiver.accepted() == []


def test_delay_and_latency_hold_the_answer(webhook_receiver: WebhookReceiver, webhook_secret: str) -> None:
    webhook_receiver.set_latency(0.1)
    webhook_receiver.script("/h", [{"status": 200, "delay": 0.2}])
    start = time.monotonic()
    post(webhook_receiver.url_for("/h"), [webhook_secret])
    assert time.monotonic() - start >= 0.3
    webhook_receiver.script("/h", [{"delay": 5}])
    with pytest.raises(httpx.ReadTimeout):  # a hang longer than the client waits
        post(webhook_receiver.url_for("/h"), [webhook_secret], timeout=0.3)
    assert not webhook_receiver.received("/h")[-1].answered
    assert len(webhook_receiver.accepted("/h")) == 1


def test_wait_for_accepted_blocks_until_a_sender_in_another_thread_delivers(
    webhook_receiver: WebhookReceiver, webhook_secret: str
) -> None:
    sender = threading.Timer(0.2, lambda: post(webhook_receiver.url_for("/late"), [webhook_secret]))
    sender.start()
    (accepted,) = webhook_receiver.wait_for_accepted(1, "/late", timeout=5)
    assert accepted.verified and accepted.path == "/late"
    with pytest.raises(TimeoutError, match="1 of 2"):
        webhook_receiver.wait_for_accepted(2, timeout=0.1)
    sender.join()


def test_without_secrets_it_records_but_cannot_verify() -> None:
    with WebhookReceiver() as receiver:
        receiver.script("/h", [202])
        assert httpx.post(receiver.url_for("/h"), content=b"{}", trust_env=False).status_code == 202
        (record,) = receiver.received()
        assert not record.verified and record.verify_error == "no secret configured for this path"
        assert receiver.accepted() == []


def test_bad_script_entries_are_refused(webhook_receiver: WebhookReceiver) -> None:
    with pytest.raises(ValueError, match="unknown"):
        webhook_receiver.script("/h", [{"status": 500, "retry_afer": 1}])


def test_http_control_api(webhook_receiver: WebhookReceiver) -> None:
    secret = generate_secret()
    control = webhook_receiver.url + "/__receiver/"
    with httpx.Client(trust_env=False) as client:
        assert client.post(control + "secrets", json={"path": "/t/1", "secrets": [secret]}).status_code == 200
        script = {"path": "/t/1", "responses": [500, {"status": 429, "retry_after": 2}]}
        assert client.post(control + "script", json=script).is_success
        assert [post(webhook_receiver.url_for("/t/1"), [secret]).status_code for _ in range(3)] == [500, 429, 200]
        received = client.get(control + "received", params={"path": "/t/1"}).json()
        assert [r["status"] for r in received] == [500, 429, 200] and all(r["verified"] for r in received)
        assert received[0]["body"] == BODY.decode()
        assert client.post(control + "reset").is_success
        assert client.get(control + "received").json() == []
        assert client.post(control + "nonsense", json={}).status_code == 404


@pytest.mark.slow  # starts processes
def test_runs_as_a_process() -> None:
    secret = generate_secret()
    with subprocess.Popen(
        [sys.executable, "-m", "credential_health.sandbox.webhook_receiver", "--port", "0", "--secret", secret],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as process:
        try:
            line = process.stdout.readline().strip()  # type: ignore[union-attr]  # stdout=PIPE: never None
            assert line.startswith("webhook receiver listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            httpx.post(url + "/__receiver/script", json={"path": "/p", "responses": [503]}, trust_env=False)
            assert [post(url + "/p", [secret]).status_code for _ in range(2)] == [503, 200]
            received = httpx.get(url + "/__receiver/received", trust_env=False).json()
            assert [(r["path"], r["status"], r["verified"]) for r in received] == [("/p", 503, True), ("/p", 200, True)]
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
