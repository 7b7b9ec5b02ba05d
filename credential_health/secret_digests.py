"""Digests of the secrets a run read, to find them again in stored text without keeping them."""

from __future__ import annotations

import hashlib
import re
import threading

from credential_health.models import ExchangeSecret


class SecretDigests:
    """SHA-256 digests of every secret value read in a run, to search stored text for them later.

    Only digests are kept: the values themselves never outlive the check that used them.
    """

    # Tokenisations a leaked value could hide behind: plain alphanumerics, base64 (standard and URL-safe), and
    # anything between separators. Each token is compared by length, then by SHA-256 digest.
    TOKENS = (
        re.compile(r"[A-Za-z0-9]+"),
        re.compile(r"[A-Za-z0-9+/]+={0,2}"),
        re.compile(r"[A-Za-z0-9_-]+={0,2}"),
        re.compile(r"[^\s\"'<>,;:&?=()\[\]{}]+"),
    )
    MASK = "<redacted>"

    def __init__(self) -> None:
        self._digests: set[str] = set()
        self._lengths: set[int] = set()
        self._lock = threading.Lock()  # the validator reads secrets from a thread pool

    @staticmethod
    def digest(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    def add(self, secret: ExchangeSecret) -> None:
        values = secret.sensitive_values()
        with self._lock:
            self._digests.update(self.digest(v) for v in values)
            self._lengths.update(len(v) for v in values)

    def matches(self, candidate: str) -> bool:
        return len(candidate) in self._lengths and self.digest(candidate) in self._digests

    def leaked_tokens(self, text: str) -> set[str]:
        """Every token of `text` that is one of the secrets read (by digest)."""
        if not self._digests:
            return set()
        return {token for pattern in self.TOKENS for token in pattern.findall(text) if self.matches(token)}

    def mask(self, text: str) -> str:
        """`text` with every token that is a secret read in the run replaced by a mask."""
        for token in sorted(self.leaked_tokens(text), key=len, reverse=True):
            text = text.replace(token, self.MASK)
        return text

    def __len__(self) -> int:
        return len(self._digests)
