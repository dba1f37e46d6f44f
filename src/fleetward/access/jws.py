"""JWS compact serialization with EdDSA/Ed25519 only (RFC 7515, RFC 8037), bytes in, dict out.

The verifier is deliberately narrow (RFC 8725, the JWT BCP): the algorithm is fixed by
the key (every :class:`VerifyKey` is Ed25519, so the only acceptable ``alg`` is
``EdDSA``), the protected header may hold only ``alg``, ``kid`` and ``typ``, keys are
found only by ``kid`` in the caller's key set (``jku``, ``jwk``, ``x5u``, ``x5c`` are
refused, never fetched), and the payload is not even decoded until its signature has
verified. Every failure is an :class:`AuthenticationError` with a precise ``code``; the
detail never echoes attacker input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Final

from fleetward.crypto import SigningKey, VerifyKey
from fleetward.errors import AuthenticationError

__all__ = ["ALGORITHM", "MAX_HEADER_SIZE", "TYPE", "sign_compact", "verified_kid", "verify_compact"]

ALGORITHM: Final = "EdDSA"
"""RFC 8037 §3.1: the one JWS ``alg`` for Ed25519 keys."""
TYPE: Final = "JWT"
"""RFC 7519 §5.1 ``typ``; required, so other JWS objects cannot pass as tokens (RFC 8725 §3.11)."""
MAX_HEADER_SIZE: Final = 512
"""Encoded header bound: ours is about 80 characters."""

_ALLOWED_HEADER: Final = frozenset({"alg", "kid", "typ"})
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_SIGNATURE_SIZE: Final = 64


def _fail(code: str, detail: str) -> AuthenticationError:
    return AuthenticationError(detail, code=code)


def _malformed() -> AuthenticationError:
    return _fail("token.malformed", "the access token is malformed")


def _b64encode(data: bytes) -> str:
    # RFC 7515 §2: base64url (RFC 4648 §5) with all trailing '=' removed.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes:
    """Strict base64url: no padding, no stray characters, and the one canonical spelling.

    The canonical check (re-encoding gives the same text) refuses encodings that differ
    only in unused trailing bits, so a token has exactly one valid spelling (RFC 7515
    Appendix C; RFC 4648 §3.5).
    """
    if _B64URL.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise _malformed()
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as e:
        raise _malformed() from e
    if _b64encode(data) != segment:
        raise _malformed()
    return data


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # RFC 7515 §4 and RFC 7519 §4: parsers MUST reject duplicate member names or take
    # only the last; two parsers picking different members is a classic confusion
    # attack, so we reject, in the header and the claims alike.
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate member")
        out[key] = value
    return out


def _refuse_constant(name: str) -> object:
    raise ValueError(f"non-JSON constant {name}")  # NaN, Infinity are not JSON (RFC 8259 §6)


def _json_object(data: bytes) -> dict[str, object]:
    """A UTF-8 JSON object with unique member names; anything else is malformed."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # ValueError covers JSONDecodeError, duplicates, constants and over-long integers.
        raise _malformed() from e
    if not isinstance(value, dict):
        raise _malformed()
    return value


def sign_compact(payload: Mapping[str, object], key: SigningKey) -> str:
    """The JWS compact serialization of ``payload`` signed by ``key`` (RFC 7515 §7.1).

    The header is exactly ``{"alg":"EdDSA","kid":<key id>,"typ":"JWT"}``; JSON is compact
    with sorted keys, and Ed25519 is deterministic, so equal inputs give equal tokens.
    """
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TYPE}
    signing_input = f"{_b64encode(_dumps(header))}.{_b64encode(_dumps(payload))}"
    # RFC 8037 §3.1: the EdDSA signature is over the ASCII bytes of the signing input.
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64encode(signature)}"


def _dumps(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def verified_kid(token: str) -> str:
    """The ``kid`` of a token :func:`verify_compact` has already accepted."""
    kid = _json_object(_b64decode(token.split(".", 1)[0])).get("kid")
    if not isinstance(kid, str):  # verify_compact refuses such a token before this
        raise _fail("token.header", "the access token header is incomplete")
    return kid


def verify_compact(
    token: str, keys: Mapping[str, VerifyKey], *, max_size: int
) -> dict[str, object]:
    """The payload object of ``token`` once its signature verifies with ``keys[kid]``.

    Steps follow RFC 7515 §5.2 with the RFC 8725 hardening, in this order (the order is
    part of the contract: nothing from the payload is looked at before the signature):

    1. bound the size before decoding (``token.oversized``);
    2. three base64url segments, header a JSON object with unique names
       (``token.malformed``);
    3. header names only ``alg``/``kid``/``typ``: ``crit`` (RFC 7515 §4.1.11), ``jku``,
       ``jwk``, ``x5u``, ``x5c`` and every other name are refused (``token.header``);
    4. ``alg`` is exactly ``EdDSA``: ``none``, ``HS256`` with the public key as the
       secret, and every other algorithm are refused (``token.algorithm``,
       RFC 8725 §3.1-3.2);
    5. ``typ`` is ``JWT`` and ``kid`` a string (``token.header``);
    6. ``kid`` names one of ``keys`` (``token.unknown_key``);
    7. the Ed25519 signature verifies (``token.signature``);
    8. only then is the payload decoded (``token.malformed``).

    Raises :class:`AuthenticationError` with the code of the first failed step.
    """
    if len(token) > max_size:
        raise _fail("token.oversized", "the access token is too large")
    if not token.isascii() or token.count(".") != 2:
        raise _malformed()
    header_b64, payload_b64, signature_b64 = token.split(".")
    if len(header_b64) > MAX_HEADER_SIZE or not header_b64 or not payload_b64:
        raise _malformed()
    header = _json_object(_b64decode(header_b64))
    signature = _b64decode(signature_b64)
    if _B64URL.fullmatch(payload_b64) is None:
        raise _malformed()

    if not header.keys() <= _ALLOWED_HEADER:
        raise _fail("token.header", "the access token header has unsupported parameters")
    if header.get("alg") != ALGORITHM:
        raise _fail("token.algorithm", "the access token algorithm is not accepted")
    kid = header.get("kid")
    if header.get("typ") != TYPE or not isinstance(kid, str):
        raise _fail("token.header", "the access token header is incomplete")
    key = keys.get(kid)
    # The key's own id must agree with the map's: a mis-built key set cannot make one
    # key answer for another.
    if key is None or key.kid != kid:
        raise _fail("token.unknown_key", "the access token was signed by an unknown key")
    message = f"{header_b64}.{payload_b64}".encode("ascii")
    if len(signature) != _SIGNATURE_SIZE or not key.verify(signature, message):
        raise _fail("token.signature", "the access token signature is invalid")
    return _json_object(_b64decode(payload_b64))
