"""Secret generation and argon2id hashing.

Secrets are 256-bit random values from the OS CSPRNG; only their argon2id hash is
stored. Verification is constant-time inside argon2; every failure (wrong secret,
malformed hash) is the same ``False`` so callers cannot leak which one happened.
"""

from __future__ import annotations

import secrets as _secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["SecretHasher", "new_secret", "new_token_id"]

_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: ids get read aloud


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with ``nbytes`` of entropy."""
    return _secrets.token_urlsafe(nbytes)


def new_token_id(length: int = 12) -> str:
    """A short, unambiguous public identifier (~60 bits for the default length)."""
    return "".join(_secrets.choice(_ID_ALPHABET) for _ in range(length))


class SecretHasher:
    """argon2id hashing with operator-tunable cost (RFC 9106 parameters)."""

    __slots__ = ("_hasher",)

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 2):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )

    def hash(self, secret: str) -> str:
        """The PHC-format argon2id hash of ``secret``."""
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str, secret: str) -> bool:
        """Whether ``secret`` matches ``stored_hash``; never raises on bad input."""
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
