"""Shorten and scrub error text so no key, secret, signature or signed URL survives."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MAX_LENGTH = 200
MASK = "<redacted>"

# A query string carries Binance's timestamp and signature; drop everything from "?" to the next blank or quote.
_QUERY = re.compile(r"\?[^\s\"'<>]*")
# Header- or form-style pairs that hold credentials or signatures, in any quoting.
_CREDENTIAL_PAIR = re.compile(
    r"(?i)\b(signature|api[-_]?sign|api[-_]?key|x-mbx-apikey|secret|password|nonce|token)"
    r"([\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]+"
)
# Hex digests (HMAC-SHA256 = 64 chars) and base64 blobs (Kraken's API-Sign = 88 chars) look like this.
_LONG_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
_SPACES = re.compile(r"\s+")


def _variants(value: str) -> set[str]:
    """The ways a value can appear in a URL, a form body or JSON text."""
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]} - {""}


def redact(text: object, sensitive: Iterable[str] = (), limit: int = MAX_LENGTH) -> str:
    """Text without the given values, query strings, credential pairs or digests, at most `limit` chars."""
    result = str(text)
    variants = {v for value in sensitive if value for v in _variants(str(value))}
    for value in sorted(variants, key=len, reverse=True):  # longest first: a value may contain another
        result = result.replace(value, MASK)
    result = _QUERY.sub("?" + MASK, result)
    result = _CREDENTIAL_PAIR.sub(lambda m: m.group(1) + m.group(2) + MASK, result)
    result = _LONG_HEX.sub(MASK, result)
    result = _LONG_BASE64.sub(MASK, result)
    result = _SPACES.sub(" ", result).strip()
    if len(result) > limit:
        result = result[: limit - 1] + "…"
    return result
