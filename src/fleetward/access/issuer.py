"""The hub's token service: issue, attenuate and verify tokens with a rotating key ring.

This is the thin stateful shell around the pure functions of :mod:`fleetward.access.tokens`:
it holds the :class:`KeyRing`, the hub's issuer and audience names, the limits, a clock
and the revocation check, and passes ``now`` and the live keys to the core.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from fleetward.access.acl import Acl
from fleetward.access.jws import ALGORITHM, verified_kid
from fleetward.access.token_cache import VerifiedTokens
from fleetward.access.tokens import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_LIFETIME,
    MAX_LEEWAY,
    TokenClaims,
    TokenKind,
    attenuate,
    check_claims,
    mint,
    signed_claims,
)
from fleetward.access.tokens import new_jti as _default_jti
from fleetward.clock import Clock
from fleetward.crypto import KeyRing
from fleetward.errors import ConfigError, InvalidInputError

__all__ = ["IssuedToken", "TokenIssuer"]

_SECOND = dt.timedelta(seconds=1)


class IssuedToken(NamedTuple):
    """A signed token and the claims it carries (for the response and the audit log)."""

    token: str
    claims: TokenClaims


def _never_revoked(_jti: str) -> bool:
    return False


class TokenIssuer:
    """The hub's token service: signs with the ring's active key, verifies with all live keys.

    Rotation (:meth:`rotate`) makes a new active key; the previous one keeps verifying for
    the ring's ``overlap``, which must be at least ``max_lifetime + leeway`` so that no
    token outlives the key that signed it (:class:`ConfigError` otherwise).
    """

    __slots__ = (
        "_clock",
        "_new_jti",
        "_revoked",
        "_ring",
        "_verified",
        "audience",
        "default_ttl",
        "issuer",
        "leeway",
        "max_lifetime",
    )

    def __init__(
        self,
        ring: KeyRing,
        clock: Clock,
        *,
        issuer: str,
        audience: str,
        default_ttl: dt.timedelta = dt.timedelta(minutes=10),
        max_lifetime: dt.timedelta = DEFAULT_MAX_LIFETIME,
        leeway: dt.timedelta = DEFAULT_LEEWAY,
        revoked: Callable[[str], bool] = _never_revoked,
        new_jti: Callable[[], str] = _default_jti,
        cache_size: int = 4096,
    ) -> None:
        if not _SECOND <= default_ttl <= max_lifetime:
            raise ConfigError("token ttl must be between one second and the max lifetime")
        if not dt.timedelta(0) <= leeway <= MAX_LEEWAY:
            raise ConfigError(f"token leeway must be between 0 and {MAX_LEEWAY}")
        if ring.overlap < max_lifetime + leeway:
            raise ConfigError("key overlap must be at least the token max lifetime plus leeway")
        self._ring = ring
        self._clock = clock
        self.issuer = issuer
        self.audience = audience
        self.default_ttl = default_ttl
        self.max_lifetime = max_lifetime
        self.leeway = leeway
        self._revoked = revoked
        self._new_jti = new_jti
        self._verified = VerifiedTokens(cache_size)

    def issue(
        self,
        *,
        sub: str,
        tenant: str,
        acl: Acl,
        kind: TokenKind,
        ttl: dt.timedelta | None = None,
    ) -> IssuedToken:
        """A root token, for a caller already authenticated by a long-term credential.

        Raises :class:`InvalidInputError` (``token.ttl``) for a ttl outside
        [1 s, ``max_lifetime``], or ``token.claims_invalid`` for bad claim values.
        """
        ttl = self.default_ttl if ttl is None else ttl
        if not _SECOND <= ttl <= self.max_lifetime:
            raise InvalidInputError(
                "ttl must be between 1 s and the max lifetime", code="token.ttl"
            )
        start = self._clock.now().replace(microsecond=0)
        claims = TokenClaims(
            iss=self.issuer,
            aud=self.audience,
            sub=sub,
            tenant=tenant,
            jti=self._new_jti(),
            iat=start,
            nbf=start,
            exp=(start + ttl).replace(microsecond=0),
            acl=acl,
            kind=kind,
        )
        return IssuedToken(mint(claims, self._ring.active), claims)

    def attenuate(
        self,
        parent_token: str,
        *,
        acl: Acl,
        ttl: dt.timedelta | None = None,
        sub: str | None = None,
        tenant: str | None = None,
    ) -> IssuedToken:
        """A grant minted by the bearer of ``parent_token``, which must verify first.

        Without ``ttl`` the grant lives ``default_ttl`` or until the parent expires,
        whichever is sooner; an explicit ``ttl`` past the parent is an escalation.
        Raises what :meth:`verify` and :func:`attenuate` raise.
        """
        now = self._clock.now()  # one reading: the parent is checked at the child's start
        parent = self._verify_at(parent_token, now, tenant)
        if ttl is None:
            ttl = min(self.default_ttl, parent.exp - now.replace(microsecond=0))
        claims = attenuate(parent, acl=acl, ttl=ttl, now=now, sub=sub, jti=self._new_jti())
        return IssuedToken(mint(claims, self._ring.active), claims)

    def verify(self, token: str, *, tenant: str | None = None) -> TokenClaims:
        """:func:`verify` with this hub's keys, names, limits and revocations at the clock's now."""
        return self._verify_at(token, self._clock.now(), tenant)

    def _verify_at(self, token: str, now: dt.datetime, tenant: str | None) -> TokenClaims:
        keys = self._ring.verify_keys(now=now)
        known = self._verified.get(token)
        if known is not None:
            kid, claims = known
            if kid in keys:  # signed by a key that still verifies: only the claims' checks
                return self._check(claims, now, tenant)
            self._verified.drop(token)  # its key retired: the full check refuses it
        claims = self._check(signed_claims(token, keys), now, tenant)
        self._verified.put(token, verified_kid(token), claims)
        return claims

    def _check(self, claims: TokenClaims, now: dt.datetime, tenant: str | None) -> TokenClaims:
        """:func:`check_claims` under this hub's rules: the one place both paths apply them."""
        return check_claims(
            claims,
            now=now,
            issuer=self.issuer,
            audience=self.audience,
            tenant=tenant,
            revoked=self._revoked,
            leeway=self.leeway,
            max_lifetime=self.max_lifetime,
        )

    def rotate(self) -> str:
        """Make a new signing key; the old one verifies until the overlap ends. Returns its kid."""
        return self._ring.rotate(now=self._clock.now()).kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The live public keys as a JWK Set (RFC 7517 §5), for external verifiers."""
        keys = self._ring.verify_keys(now=self._clock.now())
        # "alg" pins the one algorithm for external verifiers too (RFC 8725 §3.1).
        return {"keys": [{**k.jwk(), "alg": ALGORITHM, "use": "sig"} for k in keys.values()]}
