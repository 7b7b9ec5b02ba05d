"""Answers from something between us and the exchange (an egress proxy, captive portal, WAF, CDN or gateway).

None of these is the exchange's own error body, so none may mark a key invalid; each cites what it imitates.
"""

from __future__ import annotations

from aiohttp import web

_PROXY_PAGE = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1>"
    "</center><hr><center>nginx</center></body></html>"
)

# behaviour -> (HTTP status, reason, extra headers); the body is a proxy's HTML page, never exchange JSON.
BARE_STATUS = {
    # RFC 9110 §15.5.2: 401 Unauthorized (a gateway demanding its own credentials).
    "bare_401": (401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="gateway"'}),
    # RFC 9110 §15.5.4: 403 Forbidden (a firewall or WAF refusing the egress address).
    "bare_403": (403, "Forbidden", {}),
    # RFC 9110 §15.5.8: 407 Proxy Authentication Required, with the mandatory Proxy-Authenticate header.
    "bare_407": (407, "Proxy Authentication Required", {"Proxy-Authenticate": 'Basic realm="egress"'}),
    # RFC 6585 §6: 511 Network Authentication Required (a captive portal; its example body is an HTML page).
    "bare_511": (511, "Network Authentication Required", {}),
}
# 200 answers that are not an account answer: what a CDN, gateway or cut connection delivers.
BAD_BODIES = ("empty_body", "truncated_body", "html_body", "maintenance_page")
BEHAVIOURS = (*BARE_STATUS, *BAD_BODIES)

_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    "<body><h1>Checking your browser before accessing the site.</h1></body></html>"
)
_MAINTENANCE = '{"status": "maintenance", "message": "The service is down for scheduled maintenance."}'


def answer(behaviour: str, account_body: str) -> web.Response:
    """The scripted non-exchange answer; `account_body` is the real account answer (cut for truncated_body)."""
    if behaviour in BARE_STATUS:
        status, reason, headers = BARE_STATUS[behaviour]
        return web.Response(
            text=_PROXY_PAGE.format(status=status, reason=reason),
            status=status,
            content_type="text/html",
            headers=headers,
        )
    if behaviour == "empty_body":  # a gateway that closed the body early: 200, JSON type, no bytes
        return web.Response(body=b"", status=200, content_type="application/json")
    if behaviour == "truncated_body":  # the account answer cut mid-way (Content-Length matches the cut)
        return web.Response(text=account_body[: len(account_body) // 2], status=200, content_type="application/json")
    if behaviour == "html_body":  # a CDN challenge or maintenance page served with 200
        return web.Response(text=_HTML_PAGE, status=200, content_type="text/html")
    if behaviour == "maintenance_page":  # a gateway's JSON maintenance notice served with 200
        return web.Response(text=_MAINTENANCE, status=200, content_type="application/json")
    raise ValueError(f"not a transport behaviour: {behaviour!r}")
