"""The exchange-answer table: each row classifies as it says through ccxt's own error handling, and bodies
that are not the exchange's answer never make a key invalid."""

from __future__ import annotations

import json
from pathlib import Path

import ccxt
import pytest

from credential_health.models import MalformedSecret, Status
from credential_health.validation.answers import ANSWERS, exchange_error, is_account_answer, lookup
from credential_health.validation.classify import Evidence, classify_attempt
from credential_health.validation.codes import EXCHANGE_REJECTIONS

URLS = {
    "binance": "https://api.binance.com/api/v3/account",
    "kraken": "https://api.kraken.com/0/private/BalanceEx",
    "coinbase": "https://api.coinbase.com/v2/accounts",
    "kucoin": "https://api.kucoin.com/api/v1/accounts",
    "okx": "https://www.okx.com/api/v5/account/balance",
    "bybit": "https://api.bybit.com/v5/account/wallet-balance?accountType=UNIFIED",
}


def ccxt_raises(exchange_id: str, status: int, body: dict) -> BaseException | None:
    """What ccxt raises for this answer: its exchange-specific handler first, then the HTTP status map."""
    exchange = getattr(ccxt, exchange_id)()
    text = json.dumps(body)
    try:
        exchange.handle_errors(status, "", URLS[exchange_id], "GET", {}, text, body, {}, None)
        exchange.handle_http_status_code(status, "", URLS[exchange_id], "GET", text)
    except ccxt.BaseError as exc:
        return exc
    return None


def body_of(row) -> tuple[int, dict]:
    if row.exchange == "binance":
        return 400, {"code": int(row.evidence), "msg": row.meaning.split(": ", 1)[-1]}
    if row.exchange == "coinbase":
        if row.evidence.isupper():  # Advanced Trade's grpc-gateway error
            return 403, {"error": row.evidence, "error_details": row.meaning, "message": row.meaning}
        error_id, _, message = row.evidence.partition(": ")
        return int(row.meaning[:3]), {"errors": [{"id": error_id, "message": message or row.meaning[5:]}]}
    if row.exchange == "kucoin":
        return 400, {"code": row.evidence, "msg": row.meaning}
    if row.exchange == "okx":
        return 200, {"code": row.evidence, "msg": row.meaning, "data": []}
    if row.exchange == "bybit":
        return 200, {"retCode": int(row.evidence), "retMsg": row.meaning, "result": {}, "retExtInfo": {}, "time": 1}
    return 200, {"error": [row.evidence]}


@pytest.mark.parametrize("row", ANSWERS, ids=[f"{r.exchange}:{r.evidence}" for r in ANSWERS])
def test_every_row_classifies_as_documented(row):
    status, body = body_of(row)
    exc = ccxt_raises(row.exchange, status, body)
    assert exc is not None
    assert classify_attempt(row.exchange, exc, Evidence(status, body)) == (row.status, row.error_code)
    assert row.source.startswith("https://") and row.meaning


def test_rows_are_unique_and_invalid_only_for_exchange_rejections():
    assert len({(r.exchange, r.evidence) for r in ANSWERS}) == len(ANSWERS)
    for row in ANSWERS:
        assert (row.status is Status.INVALID) == (row.error_code in EXCHANGE_REJECTIONS)


@pytest.mark.parametrize("status", [401, 403, 407, 511])
@pytest.mark.parametrize("exchange_id", ["binance", "kraken", "okx", "bybit", "bitget"])
@pytest.mark.parametrize("body", [None, "<html>proxy</html>", {"message": "unauthorized"}, {}])
def test_bare_auth_status_is_transport_auth(exchange_id, status, body):
    parsed = body if isinstance(body, dict) else None
    exc = ccxt.AuthenticationError("401") if status != 403 else ccxt.ExchangeNotAvailable("403")
    expected = (Status.UNKNOWN, "transport_auth")
    if exchange_id == "bitget" and parsed:  # an exchange with no known shape: any JSON object is its answer
        expected = (Status.INVALID, "auth_rejected") if status != 403 else (Status.UNKNOWN, "exchange_unavailable")
    assert classify_attempt(exchange_id, exc, Evidence(status, parsed)) == expected


@pytest.mark.parametrize("exchange_id", ["binance", "kraken", "coinbase", "kucoin", "okx", "bybit"])
@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "<html/>",
        {"status": "maintenance"},
        [],
        {"balances": "x"},
        {"data": [{"balance": "1"}]},
        {"code": "200000", "data": {}},
        {"code": "400003", "msg": "KC-API-KEY not exists"},
        {"error": ["EAPI:Invalid key"]},
        {"error": [], "result": []},
        {"balances": [{"asset": "BTC"}]},
        {"result": {"XXBT": "1.0"}, "error": []},
        {"code": "0", "data": {}},
        {"code": "0", "data": [{"details": [{"ccy": "BTC"}]}]},
        {"retCode": 0, "result": {"list": [{"coin": []}]}},
        {"retCode": 0, "result": {"list": [{"accountType": "UNIFIED", "coin": [{}]}]}},
    ],
)
def test_a_200_that_is_not_an_account_answer_is_bad_response(exchange_id, body):
    assert classify_attempt(exchange_id, None, Evidence(200, body)) == (Status.UNKNOWN, "bad_response")


@pytest.mark.parametrize("exc", [TypeError("string indices"), ccxt.ExchangeError("x"), ccxt.BadResponse("x")])
def test_a_200_that_broke_ccxt_without_an_exchange_error_is_bad_response(exc):
    """ccxt's Kraken parser fails on an empty or HTML 200; that is a bad answer, not an unexplained error."""
    assert classify_attempt("kraken", exc, Evidence(200, None)) == (Status.UNKNOWN, "bad_response")


@pytest.mark.parametrize(
    ("exchange_id", "body"),
    [
        ("binance", {"accountType": "SPOT", "balances": [{"asset": "BTC", "free": "1", "locked": "0"}]}),
        ("binance", {"balances": []}),
        ("kraken", {"error": [], "result": {"XXBT": {"balance": "1.0", "hold_trade": "0"}}}),
        ("kraken", {"error": [], "result": {}}),
        ("okx", {"code": "0", "data": [{"details": []}]}),
        ("coinbase", {"pagination": {}, "data": [{"type": "wallet", "balance": {"amount": "1", "currency": "BTC"}}]}),
        ("coinbase", {"accounts": [{"available_balance": {"value": "1", "currency": "BTC"}}], "has_next": False}),
        ("coinbase", {"data": []}),
        ("kucoin", {"code": "200000", "data": [{"currency": "BTC", "balance": "1", "available": "1", "holds": "0"}]}),
        ("kucoin", {"code": "200000", "data": []}),
        ("okx", {"code": "0", "msg": "", "data": [{"details": [{"ccy": "BTC", "cashBal": "1", "eq": "1"}]}]}),
        ("bybit", {"retCode": 0, "retMsg": "OK", "result": {"list": []}}),
        (
            "bybit",
            {
                "retCode": 0,
                "result": {"list": [{"accountType": "UNIFIED", "coin": [{"coin": "BTC", "walletBalance": "1"}]}]},
            },
        ),
    ],
)
def test_documented_account_answers_are_valid(exchange_id, body):
    assert is_account_answer(exchange_id, body)
    assert classify_attempt(exchange_id, None, Evidence(200, body)) == (Status.VALID, "ok")


def test_no_answer_classifies_by_exception_class():
    assert classify_attempt("binance", ccxt.RequestTimeout("t"), Evidence()) == (Status.UNKNOWN, "timeout")
    assert classify_attempt("kraken", MalformedSecret("x"), Evidence()) == (Status.INVALID, "malformed_secret")


def test_unmapped_exchange_answers_stay_unknown():
    assert classify_attempt("kraken", ccxt.ExchangeError("x"), Evidence(200, {"error": ["EFoo:Bar"]})) == (
        Status.UNKNOWN,
        "unexpected",
    )
    assert classify_attempt("binance", ccxt.NotSupported("x"), Evidence(400, {"code": -9999, "msg": "m"})) == (
        Status.UNKNOWN,
        "unexpected",
    )
    # an HTML 500 page: not the exchange's body, but not an auth status either: the class decides
    assert classify_attempt("binance", ccxt.ExchangeNotAvailable("x"), Evidence(502, None)) == (
        Status.UNKNOWN,
        "exchange_unavailable",
    )
    assert classify_attempt("binance", ccxt.NotSupported("x"), Evidence(404, None)) == (Status.UNKNOWN, "unexpected")


def test_evidence_parsing():
    assert exchange_error("binance", {"code": -2015, "msg": "m"}) == "-2015"
    assert exchange_error("binance", {"code": 0, "msg": "m"}) is None
    assert exchange_error("binance", {"msg": "You don't have permission.", "success": False}) == (
        "You don't have permission."
    )
    assert exchange_error("kraken", {"error": ["WGeneral:Something", "EAPI:Invalid key"]}) == "EAPI:Invalid key"
    assert exchange_error("kraken", {"error": "EAPI:Invalid key"}) is None
    assert exchange_error("okx", {}) is None and exchange_error("okx", "text") is None
    assert exchange_error("okx", {"code": "50111", "msg": "Invalid OK-ACCESS-KEY.", "data": []}) == "50111"
    assert exchange_error("okx", {"code": "0", "msg": "", "data": []}) is None
    assert exchange_error("bybit", {"retCode": 10003, "retMsg": "API key is invalid."}) == "10003"
    assert exchange_error("bybit", {"ret_code": 10004, "ret_msg": "sign"}) == "10004"
    assert exchange_error("bybit", {"retCode": 0, "retMsg": "OK"}) is None
    assert lookup("kraken", "EGeneral:Permission denied:extra").error_code == "permission_denied"
    assert lookup("kraken", None) is None and lookup("binance", "-1") is None
    assert exchange_error("coinbase", {"errors": [{"id": "invalid_scope", "message": "m"}]}) == "invalid_scope: m"
    assert exchange_error("coinbase", {"error": "PERMISSION_DENIED", "message": "m"}) == "PERMISSION_DENIED"
    assert exchange_error("coinbase", {"data": []}) is None and exchange_error("coinbase", {"errors": []}) is None
    assert lookup("coinbase", "authentication_error: anything").error_code == "auth_rejected"
    assert lookup("coinbase", "authentication_error: request timestamp expired").error_code == "clock_skew"
    assert exchange_error("kucoin", {"code": "400005", "msg": "Invalid KC-API-SIGN"}) == "400005"
    assert exchange_error("kucoin", {"code": "200000", "data": []}) is None


def test_operations_doc_lists_every_row_with_its_source():
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    table = text[text.index("## Outcome classification") : text.index("## Exchange-wide guard")]
    for row in ANSWERS:
        line = next(
            line
            for line in table.splitlines()
            if line.startswith("|") and f"`{row.evidence}`" in line and row.meaning in line
        )
        assert f"`{row.status.value}`" in line and f"`{row.error_code}`" in line and row.meaning in line
        assert row.source in table


@pytest.mark.slow  # starts processes
def test_codes_table_and_guard_load_without_ccxt():
    """The Dagster code location imports the guard; ccxt (seconds to import) stays out until a check runs."""
    import subprocess
    import sys

    code = (
        "import sys, credential_health.validation as v, credential_health.validation.guard, "
        "credential_health.validation.answers; assert 'ccxt' not in sys.modules, 'ccxt imported'; "
        "v.ExchangeValidator; assert 'ccxt' in sys.modules\n"
        "try:\n    v.nothing_here\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
