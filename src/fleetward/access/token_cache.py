"""A small bounded cache of tokens whose signature and claims already verified.

Reconnect storms present the same token again and again; its Ed25519 signature check
and claims parsing are most of a token CONNECT's cost. The cache is keyed by the exact
token text and remembers only what cannot change for those bytes: which key signed it
and the parsed claims. Everything that can change is checked again at every use by the
caller: that the signing key still verifies (rotation), ``exp``/``nbf`` against now,
the tenant, and revocation of the token or any ancestor. Failures are never cached.
"""

from __future__ import annotations

import threading

from fleetward.access.tokens import TokenClaims

__all__ = ["VerifiedTokens"]


class VerifiedTokens:
    """Token text → (signing kid, claims); at most ``size`` entries, oldest out first."""

    __slots__ = ("_entries", "_lock", "size")

    def __init__(self, size: int = 4096) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self._entries: dict[str, tuple[str, TokenClaims]] = {}
        self._lock = threading.Lock()  # API worker threads verify too

    def get(self, token: str) -> tuple[str, TokenClaims] | None:
        """What was remembered for exactly ``token``, or None."""
        return self._entries.get(token)

    def put(self, token: str, kid: str, claims: TokenClaims) -> None:
        """Remember a token that fully verified with the key ``kid``."""
        if self.size == 0:
            return
        with self._lock:
            entries = self._entries
            if token not in entries and len(entries) >= self.size:
                del entries[next(iter(entries))]
            entries[token] = (kid, claims)

    def drop(self, token: str) -> None:
        """Forget ``token`` (its signing key no longer verifies)."""
        with self._lock:
            self._entries.pop(token, None)

    def __len__(self) -> int:
        return len(self._entries)
