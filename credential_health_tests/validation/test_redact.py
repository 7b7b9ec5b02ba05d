"""Redaction of error text from ccxt and the exchanges."""

from __future__ import annotations

from credential_health.validation.redact import MASK, redact

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signed_url_loses_its_query_and_the_key_header():
    text = (
        f"binance GET https://api.binance.com/api/v3/account?timestamp=1499827319559&recvWindow=5000"
        f"&signature={SIGNATURE} 401 Unauthorized {{'X-MBX-APIKEY': '{KEY}'}}"
    )
    redacted = redact(text, [KEY, SECRET])
    assert KEY not in redacted and SIGNATURE not in redacted and "timestamp=" not in redacted
    assert redacted.startswith("binance GET https://api.binance.com/api/v3/account?" + MASK)


def test_values_are_removed_in_encoded_forms_too():
    secret = "se/cr+et=="
    text = f'body: secret=se%2Fcr%2Bet%3D%3D json: "se\\/cr+et==" plain {secret}'
    redacted = redact(text, [secret])
    assert "se%2Fcr" not in redacted and secret not in redacted


def test_credential_pairs_and_digests_without_known_values():
    text = (
        "headers {'API-Key': 'abc', 'API-Sign': '4/dplxr3qUNnN76nvsqQr0G/ZjjKLjmSvLeaXXQTXHR8nc7PsGsrQRm"
        "KR9WyIEEzlGsVSYa5vtMXgsrChTjlGg=='} nonce=1616492376594"
    )
    redacted = redact(text)
    assert "abc" not in redacted and "4/dplxr3" not in redacted and "1616492376594" not in redacted


def test_ordinary_messages_survive():
    message = 'AuthenticationError: binance {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}'
    assert redact(message) == message
    assert redact('InvalidNonce: kraken {"error": ["EAPI:Invalid nonce"]}').startswith("InvalidNonce: kraken")


def test_length_is_capped_and_whitespace_collapsed():
    redacted = redact("word  \n  " * 100)
    assert len(redacted) == 200 and redacted.endswith("…") and "  " not in redacted
    assert redact("x y " * 20, limit=10) == "x y x y x…"


def test_empty_sensitive_values_are_ignored():
    assert redact("nothing to hide", ["", None]) == "nothing to hide"
