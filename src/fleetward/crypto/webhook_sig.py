"""HMAC-SHA256 signatures of outgoing webhooks, and their verification for receivers.

The scheme (documented for receivers in ``docs/presence.md``): the header
``Fleetward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
Signing the timestamp with the body lets a receiver refuse replays older than its
tolerance; comparing in constant time (``hmac.compare_digest``) gives no timing oracle.
Several ``v1=`` values may appear while a secret is being rotated (RFC 2104 HMAC).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign_webhook", "verify_webhook"]

SIGNATURE_HEADER = "Fleetward-Signature"
_MIN_SECRET = 16


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    if len(secret) < _MIN_SECRET:
        raise ValueError("a webhook secret needs at least 16 bytes")
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign_webhook(secrets: list[bytes] | bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (one ``v1`` per secret)."""
    keys = [secrets] if isinstance(secrets, bytes) else secrets
    return ",".join([f"t={timestamp}", *(f"v1={_mac(k, timestamp, body)}" for k in keys)])


def verify_webhook(
    secret: bytes, header: str, body: bytes, *, now: int, tolerance: int = 300
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` s of ``now``.

    Any malformed header, stale timestamp or mismatch is the same ``False``.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
