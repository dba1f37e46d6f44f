"""Short-lived access tokens: EdDSA-signed JWTs carrying a topic ACL, and their attenuation.

A token is a JWT (RFC 7519) in JWS compact form (RFC 7515) signed with Ed25519
(RFC 8037) by the hub's :class:`KeyRing`. Its claims say who it speaks for (``tenant``,
``sub``), for how long (``iat``/``nbf``/``exp``), for which verifier (``iss``/``aud``)
and what it allows (``acl``). :func:`verify` is a pure function of (token, keys, now):
it reads no clock, fetches nothing and accepts exactly one algorithm, the one the key
fixes. A token may mint only narrower tokens (:func:`attenuate`): same tenant, an ACL it
covers, a lifetime inside its own; the ``chain`` of ancestor ids lets a revocation of any
ancestor refuse every descendant. :class:`fleetward.access.issuer.TokenIssuer` is the
stateful shell (key ring, clock). See ``docs/decisions/0003-access-tokens.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Final, Literal, cast

from fleetward.access.acl import Acl
from fleetward.access.jws import sign_compact, verify_compact
from fleetward.crypto import SigningKey, VerifyKey, new_token_id
from fleetward.errors import AuthenticationError, ForbiddenError, InvalidInputError

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_LIFETIME",
    "MAX_CHAIN_DEPTH",
    "MAX_LEEWAY",
    "MAX_TOKEN_SIZE",
    "TokenClaims",
    "TokenKind",
    "attenuate",
    "check_claims",
    "mint",
    "new_jti",
    "signed_claims",
    "verify",
]

TokenKind = Literal["device", "app", "grant"]
"""``device``/``app``: issued against a long-term credential; ``grant``: minted for another."""

MAX_TOKEN_SIZE: Final = 8 * 1024
"""Characters; checked before any decoding (a full ACL fits in about 4 KiB)."""
DEFAULT_LEEWAY: Final = dt.timedelta(seconds=30)
"""Clock skew tolerated on ``exp`` and ``nbf`` (RFC 7519 §4.1.4-5 allow "a small leeway")."""
MAX_LEEWAY: Final = dt.timedelta(minutes=5)
DEFAULT_MAX_LIFETIME: Final = dt.timedelta(hours=1)
"""Longest ``exp - iat`` a verifier accepts; tokens are refreshed, not kept."""
MAX_CHAIN_DEPTH: Final = 8
"""How many attenuations deep a grant may be."""

_KINDS: Final = frozenset({"device", "app", "grant"})
_CLAIMS: Final = frozenset(
    {"iss", "aud", "sub", "tenant", "jti", "iat", "nbf", "exp", "acl", "kind", "chain"}
)
_MAX_TEXT: Final = 256
_MAX_JTI: Final = 64
_MAX_NUMERIC_DATE: Final = 253_402_300_799  # 9999-12-31T23:59:59Z, datetime's limit


def _invalid_claims(detail: str) -> InvalidInputError:
    return InvalidInputError(detail, code="token.claims_invalid")


def _check_text(name: str, value: object, max_len: int = _MAX_TEXT) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= max_len or not value.isprintable():
        raise _invalid_claims(f"'{name}' must be 1 to {max_len} printable characters")


def _check_time(name: str, value: object) -> None:
    # NumericDate is whole seconds (RFC 7519 §2); requiring them makes mint/verify exact.
    if (
        not isinstance(value, dt.datetime)
        or value.utcoffset() is None
        or value.microsecond != 0
        or value.timestamp() < 0
    ):
        raise _invalid_claims(f"'{name}' must be an aware datetime in whole seconds")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The verified content of a token (RFC 7519 §4.1 registered claims plus our own).

    Invariants (checked at construction, :class:`InvalidInputError`
    ``token.claims_invalid``): aware whole-second times with ``iat <= nbf < exp``; short
    printable strings; ``chain`` holds the ancestors' ``jti`` (root first), at most
    :data:`MAX_CHAIN_DEPTH`, and only a ``grant`` has ancestors.
    """

    iss: str
    aud: str
    sub: str
    tenant: str
    jti: str
    iat: dt.datetime
    nbf: dt.datetime
    exp: dt.datetime
    acl: Acl
    kind: TokenKind
    chain: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("iss", "aud", "sub", "tenant"):
            _check_text(name, getattr(self, name))
        _check_text("jti", self.jti, _MAX_JTI)
        for name in ("iat", "nbf", "exp"):
            _check_time(name, getattr(self, name))
        if not self.iat <= self.nbf < self.exp:
            raise _invalid_claims("times must satisfy iat <= nbf < exp")
        if not isinstance(self.acl, Acl):
            raise _invalid_claims("'acl' must be an Acl")
        if self.kind not in _KINDS:
            raise _invalid_claims("'kind' must be device, app or grant")
        if not isinstance(self.chain, tuple) or len(self.chain) > MAX_CHAIN_DEPTH:
            raise _invalid_claims(f"'chain' must be a tuple of at most {MAX_CHAIN_DEPTH} ids")
        for ancestor in self.chain:
            _check_text("chain", ancestor, _MAX_JTI)
        if self.jti in self.chain or len(set(self.chain)) != len(self.chain):
            raise _invalid_claims("'chain' may not repeat an id")
        if self.chain and self.kind != "grant":
            raise _invalid_claims("only a grant has a parent")

    @property
    def parent(self) -> str | None:
        """The ``jti`` of the token this one was attenuated from."""
        return self.chain[-1] if self.chain else None

    def to_json(self) -> dict[str, object]:
        """The JWT claims set; times as NumericDate integers (RFC 7519 §2)."""
        return {
            "iss": self.iss,
            "aud": self.aud,
            "sub": self.sub,
            "tenant": self.tenant,
            "jti": self.jti,
            "iat": int(self.iat.timestamp()),
            "nbf": int(self.nbf.timestamp()),
            "exp": int(self.exp.timestamp()),
            "acl": self.acl.to_json(),
            "kind": self.kind,
            "chain": list(self.chain),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, object]) -> TokenClaims:
        """Parse a claims set; exactly our claims, each of its one type, nothing more.

        ``aud`` must be one string (RFC 7519 §4.1.3 allows an array; we never issue one).
        Raises :class:`InvalidInputError` (``token.claims_invalid`` or ``acl.invalid``).
        """
        if payload.keys() != _CLAIMS:
            raise _invalid_claims("the claims set must hold exactly the Fleetward claims")
        chain, kind = payload["chain"], payload["kind"]
        if not isinstance(chain, list):
            raise _invalid_claims("'chain' must be a list")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise _invalid_claims("'kind' must be device, app or grant")
        text = {n: payload[n] for n in ("iss", "aud", "sub", "tenant", "jti")}
        for name, value in text.items():
            _check_text(name, value)
        return cls(
            iss=cast(str, text["iss"]),
            aud=cast(str, text["aud"]),
            sub=cast(str, text["sub"]),
            tenant=cast(str, text["tenant"]),
            jti=cast(str, text["jti"]),
            iat=_from_numeric_date("iat", payload["iat"]),
            nbf=_from_numeric_date("nbf", payload["nbf"]),
            exp=_from_numeric_date("exp", payload["exp"]),
            acl=Acl.from_json(payload["acl"]),
            kind=cast(TokenKind, kind),
            chain=tuple(cast(list[str], chain)),
        )


def _from_numeric_date(name: str, value: object) -> dt.datetime:
    # bool is an int subclass and floats are legal NumericDates; we issue neither.
    if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
        raise _invalid_claims(f"'{name}' must be an integer NumericDate")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def mint(claims: TokenClaims, key: SigningKey, *, max_size: int = MAX_TOKEN_SIZE) -> str:
    """Sign ``claims`` into a compact JWS with header ``{"alg":"EdDSA","kid":…,"typ":"JWT"}``.

    Raises :class:`InvalidInputError` (``token.oversized``) when the token would be
    longer than ``max_size``, which no verifier would accept.
    """
    token = sign_compact(claims.to_json(), key)
    if len(token) > max_size:
        raise InvalidInputError("the token would be too large", code="token.oversized")
    return token


def _refuse(code: str, detail: str) -> AuthenticationError:
    return AuthenticationError(detail, code=code)


def _require_aware(now: dt.datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _any_revoked(revoked: Callable[[str], bool] | Container[str], ids: tuple[str, ...]) -> bool:
    if callable(revoked):
        return any(revoked(i) for i in ids)
    return any(i in revoked for i in ids)


def verify(
    token: str,
    keys: Mapping[str, VerifyKey],
    *,
    now: dt.datetime,
    issuer: str,
    audience: str,
    tenant: str | None = None,
    revoked: Callable[[str], bool] | Container[str] = frozenset(),
    leeway: dt.timedelta = DEFAULT_LEEWAY,
    max_lifetime: dt.timedelta = DEFAULT_MAX_LIFETIME,
    max_size: int = MAX_TOKEN_SIZE,
) -> TokenClaims:
    """The claims of ``token`` if it is valid at ``now`` for ``issuer`` and ``audience``.

    Pure: the result depends only on the arguments. The signature is checked (by
    :func:`fleetward.access.jws.verify_compact`) before any claim is read; then, in
    order: the claims' shape (``token.claims``), ``iss`` (``token.issuer``, RFC 7519
    §4.1.1), ``aud`` (``token.audience``, §4.1.3), ``exp - iat <= max_lifetime``
    (``token.lifetime``), ``now < exp + leeway`` (``token.expired``, §4.1.4),
    ``now >= nbf - leeway`` (``token.not_yet_valid``, §4.1.5), the ``tenant`` when given
    (``token.tenant``), and that neither the ``jti`` nor any ancestor's is revoked
    (``token.revoked``). Raises :class:`AuthenticationError` with the first failing code;
    its detail never repeats a value from the token.
    """
    _require_aware(now)
    if not dt.timedelta(0) <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY}")
    return check_claims(
        signed_claims(token, keys, max_size=max_size),
        now=now,
        issuer=issuer,
        audience=audience,
        tenant=tenant,
        revoked=revoked,
        leeway=leeway,
        max_lifetime=max_lifetime,
    )


def signed_claims(
    token: str, keys: Mapping[str, VerifyKey], *, max_size: int = MAX_TOKEN_SIZE
) -> TokenClaims:
    """:func:`verify`'s first half: the claims of ``token`` once its signature verifies.

    Only their shape is checked; a caller must still pass them through
    :func:`check_claims` before trusting them.
    """
    payload = verify_compact(token, keys, max_size=max_size)
    try:
        return TokenClaims.from_json(payload)
    except InvalidInputError as e:
        raise _refuse("token.claims", "the access token claims are invalid") from e


def check_claims(
    claims: TokenClaims,
    *,
    now: dt.datetime,
    issuer: str,
    audience: str,
    tenant: str | None = None,
    revoked: Callable[[str], bool] | Container[str] = frozenset(),
    leeway: dt.timedelta = DEFAULT_LEEWAY,
    max_lifetime: dt.timedelta = DEFAULT_MAX_LIFETIME,
) -> TokenClaims:
    """:func:`verify`'s checks after the signature, in its order: ``claims`` if they pass.

    Split out so a verifier that already checked the signature of these exact claims
    (a cache keyed by the token) still applies every time- and revocation-dependent
    rule at each use.
    """
    _require_aware(now)
    if claims.iss != issuer:
        raise _refuse("token.issuer", "the access token has the wrong issuer")
    if claims.aud != audience:
        raise _refuse("token.audience", "the access token is for another audience")
    if claims.exp - claims.iat > max_lifetime:
        raise _refuse("token.lifetime", "the access token lives too long")
    if now >= claims.exp + leeway:
        raise _refuse("token.expired", "the access token has expired")
    if now < claims.nbf - leeway:
        raise _refuse("token.not_yet_valid", "the access token is not valid yet")
    if tenant is not None and claims.tenant != tenant:
        raise _refuse("token.tenant", "the access token is for another tenant")
    if _any_revoked(revoked, (claims.jti, *claims.chain)):
        raise _refuse("token.revoked", "the access token has been revoked")
    return claims


def new_jti() -> str:
    """A fresh token id: 16 characters, 80 bits from the OS CSPRNG."""
    return new_token_id(16)


def attenuate(
    parent: TokenClaims,
    *,
    acl: Acl,
    ttl: dt.timedelta,
    now: dt.datetime,
    audience: str | None = None,
    sub: str | None = None,
    jti: str | None = None,
) -> TokenClaims:
    """Claims for a grant derived from ``parent``: never wider, never longer-lived.

    The child keeps the parent's issuer and tenant, starts at ``now`` (whole seconds),
    ends at ``now + ttl``, names ``parent.jti`` as its parent and gets a fresh ``jti``.
    ``sub`` (the grantee) and ``audience`` (which verifier accepts it) default to the
    parent's; rights live in ``acl``, which every Fleetward audience reads alike.

    Raises :class:`ForbiddenError` ``token.escalation`` when ``acl`` is not covered by
    the parent's, the child would end after the parent or start before it; ``token.depth``
    past :data:`MAX_CHAIN_DEPTH`; :class:`InvalidInputError` ``token.ttl`` for a ttl
    under one second.
    """
    _require_aware(now)
    start = now.replace(microsecond=0)
    exp = (start + ttl).replace(microsecond=0)
    if exp <= start:
        raise InvalidInputError("a grant must live at least one second", code="token.ttl")
    if len(parent.chain) >= MAX_CHAIN_DEPTH:
        raise ForbiddenError("the grant chain is too deep", code="token.depth")
    if not parent.acl.covers(acl):
        raise ForbiddenError("the grant's acl is wider than its parent's", code="token.escalation")
    if exp > parent.exp or start < parent.nbf:
        raise ForbiddenError(
            "the grant would outlive or predate its parent", code="token.escalation"
        )
    return TokenClaims(
        iss=parent.iss,
        aud=parent.aud if audience is None else audience,
        sub=parent.sub if sub is None else sub,
        tenant=parent.tenant,
        jti=new_jti() if jti is None else jti,
        iat=start,
        nbf=start,
        exp=exp,
        acl=acl,
        kind="grant",
        chain=(*parent.chain, parent.jti),
    )
