"""The issuer's cache of verified tokens: it saves the signature check, never a rule.

Every rule that depends on time or on state (expiry, not-before, tenant, revocation, a
live signing key) must still refuse a token the cache has seen and accepted before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fleetward.access.acl import Acl
from fleetward.access.issuer import TokenIssuer
from fleetward.access.token_cache import VerifiedTokens
from fleetward.clock import ManualClock
from fleetward.crypto import KeyRing
from fleetward.errors import AuthenticationError

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
ACL = Acl(publish=("devices/d1/telemetry/#",), subscribe=("devices/d1/commands/#",))
LEEWAY = dt.timedelta(seconds=30)


def _issuer(tmp_path: Path, clock: ManualClock, revoked: set[str] | None = None) -> TokenIssuer:
    ring = KeyRing.open(tmp_path / "keys", now=clock.now(), overlap=dt.timedelta(hours=2))
    gone = revoked if revoked is not None else set()
    return TokenIssuer(ring, clock, issuer="hub", audience="mqtt", revoked=gone.__contains__)


def _refused(issuer: TokenIssuer, token: str, **kw: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        issuer.verify(token, **kw)
    return info.value.code


def test_a_second_verify_is_served_from_the_cache(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, ManualClock(NOW))
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    assert issuer.verify(issued.token) == issued.claims
    assert issuer._verified.get(issued.token) is not None
    assert issuer.verify(issued.token) == issued.claims


def test_a_cached_token_still_expires(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    issuer = _issuer(tmp_path, clock)
    ttl = dt.timedelta(minutes=5)
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device", ttl=ttl)
    issuer.verify(issued.token)
    clock.advance(ttl + LEEWAY)
    assert _refused(issuer, issued.token) == "token.expired"


def test_a_cached_token_is_refused_once_revoked(tmp_path: Path) -> None:
    revoked: set[str] = set()
    issuer = _issuer(tmp_path, ManualClock(NOW), revoked)
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="app")
    issuer.verify(issued.token)
    revoked.add(issued.claims.jti)
    assert _refused(issuer, issued.token) == "token.revoked"


def test_a_cached_grant_dies_with_its_parent(tmp_path: Path) -> None:
    revoked: set[str] = set()
    issuer = _issuer(tmp_path, ManualClock(NOW), revoked)
    parent = issuer.issue(sub="app", tenant="t1", acl=ACL, kind="app")
    child = issuer.attenuate(parent.token, acl=ACL, sub="widget")
    issuer.verify(child.token)
    revoked.add(parent.claims.jti)
    assert _refused(issuer, child.token) == "token.revoked"


def test_a_cached_token_is_still_checked_for_its_tenant(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, ManualClock(NOW))
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    issuer.verify(issued.token, tenant="t1")
    assert _refused(issuer, issued.token, tenant="t2") == "token.tenant"


def test_an_altered_token_is_not_the_cached_one(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, ManualClock(NOW))
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    issuer.verify(issued.token)
    last = issued.token[-2]
    forged = issued.token[:-2] + ("A" if last != "A" else "B") + issued.token[-1]
    assert _refused(issuer, forged) == "token.signature"


def test_an_entry_whose_key_is_not_live_is_not_trusted(tmp_path: Path) -> None:
    """A remembered kid that no longer verifies sends the token through the full check."""
    issuer = _issuer(tmp_path, ManualClock(NOW))
    real = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    other = issuer.issue(sub="d2", tenant="t2", acl=ACL, kind="app")
    issuer._verified.put(real.token, "retired-kid", other.claims)
    assert issuer.verify(real.token) == real.claims


def test_the_cache_is_bounded_oldest_first() -> None:
    cache = VerifiedTokens(size=2)
    claims = object()
    for token in ("a", "b", "c"):
        cache.put(token, "kid", claims)  # type: ignore[arg-type]
    assert len(cache) == 2
    assert cache.get("a") is None
    assert cache.get("c") is not None
    off = VerifiedTokens(size=0)
    off.put("a", "kid", claims)  # type: ignore[arg-type]
    assert off.get("a") is None
