"""API keys: minting with attenuation, authentication, revocation.

A key looks like ``fwk_<id>_<secret>``: the public id finds the row, the secret is
checked against its argon2id hash. A key can only mint keys that are narrower than
itself (fewer or equal permissions, same or narrower tenant and owner, no later
expiry), so minting never widens its caller's rights; :meth:`ApiKeyService.grant` lets
the operator widen a key deliberately, never past its own permissions. A successful
argon2 check is cached for a short time by a SHA-256 digest of the whole token, but the
row is read on every request, so revocation, expiry and new scopes take effect on the
very next call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import threading
from collections.abc import Iterable

from fleetward.access.principal import ALL_PERMISSIONS, OWNER_PERMISSIONS, Permission, Principal
from fleetward.clock import Clock
from fleetward.crypto import SecretHasher, new_secret, new_token_id
from fleetward.errors import AuthenticationError, ConflictError, ForbiddenError, NotFoundError
from fleetward.registry import ApiKey, EntityStatus, Page, Role, Store

__all__ = ["TOKEN_PREFIX", "ApiKeyService"]

TOKEN_PREFIX = "fwk_"  # noqa: S105 - a public prefix, not a secret
_TOKEN_RE = re.compile(r"fwk_([a-z2-9]{12})_([A-Za-z0-9_-]{43})")
_MAX_TOKEN_LEN = 128
_CACHE_MAX = 10_000


def _unauthenticated() -> AuthenticationError:
    return AuthenticationError("missing, invalid, expired or revoked API key")


class ApiKeyService:
    """Mint, verify, list and revoke API keys."""

    __slots__ = ("_cache", "_cache_ttl", "_clock", "_hasher", "_lock", "_max_ttl", "_store")

    def __init__(
        self,
        store: Store,
        hasher: SecretHasher,
        clock: Clock,
        *,
        max_ttl: dt.timedelta,
        cache_ttl: dt.timedelta,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._max_ttl = max_ttl
        self._cache_ttl = cache_ttl
        self._cache: dict[str, tuple[bytes, dt.datetime]] = {}
        self._lock = threading.Lock()

    def bootstrap_operator(self) -> str | None:
        """Create the first operator key if there has never been one; return its token.

        The token is returned exactly once; only its hash is stored. Later calls return
        ``None``: there is no built-in credential to fall back on.
        """
        with self._store.unit() as u:
            if u.api_keys.count_operator_keys() > 0:
                return None
        _, token = self.create(
            Principal.local_operator(), name="bootstrap operator key", role=Role.OPERATOR
        )
        return token

    def create(
        self,
        creator: Principal,
        *,
        name: str,
        role: Role,
        tenant_id: str | None = None,
        owner_id: str | None = None,
        scopes: Iterable[str] | None = None,
        ttl: dt.timedelta | None = None,
    ) -> tuple[ApiKey, str]:
        """Mint a key no wider than ``creator``; return the record and the one-time token."""
        creator.require(Permission.APIKEYS_WRITE)
        now = self._clock.now()
        ceiling = creator.scopes if role is Role.OPERATOR else creator.scopes & OWNER_PERMISSIONS
        wanted = frozenset(scopes) if scopes is not None else ceiling
        unknown = wanted - ALL_PERMISSIONS
        if unknown:
            raise ConflictError(f"unknown permission {sorted(unknown)[0]}", code="apikey.scope")
        if role is Role.OPERATOR:
            if not creator.is_operator:
                raise ForbiddenError("only the operator mints operator keys", code="apikey.role")
            tenant_id = owner_id = None
        else:
            if tenant_id is None or owner_id is None:
                raise ConflictError("an owner key names its tenant and owner", code="apikey.owner")
            scope = creator.scope_for(tenant_id)
            if scope.owner_id is not None and owner_id != scope.owner_id:
                raise NotFoundError(f"no owner {owner_id}", code="owner.not_found")
            if not wanted <= OWNER_PERMISSIONS:
                extra = sorted(wanted - OWNER_PERMISSIONS)[0]
                raise ForbiddenError(f"owner keys cannot hold {extra}", code="apikey.scope")
        if not wanted <= creator.scopes:
            extra = sorted(wanted - creator.scopes)[0]
            raise ForbiddenError(f"cannot grant {extra}: the caller lacks it", code="apikey.scope")
        lifetime = min(ttl or dt.timedelta(days=90), self._max_ttl)
        expires_at = now + lifetime
        if creator.expires_at is not None:
            expires_at = min(expires_at, creator.expires_at)
        key_id, secret = new_token_id(), new_secret()
        token = f"{TOKEN_PREFIX}{key_id}_{secret}"
        key = ApiKey(
            id=key_id,
            role=role,
            tenant_id=tenant_id,
            owner_id=owner_id,
            name=name,
            scopes=wanted,
            secret_hash=self._hasher.hash(token),
            created_at=now,
            expires_at=expires_at,
            created_by=creator.key_id,
        )
        with self._store.unit() as u:
            if tenant_id is not None and owner_id is not None:
                owner = u.owners.get(tenant_id, owner_id)
                if owner is None:
                    raise NotFoundError(f"no owner {owner_id}", code="owner.not_found")
                if owner.status is not EntityStatus.ACTIVE:
                    raise ConflictError(f"owner {owner_id} is suspended", code="owner.not_active")
            u.api_keys.add(key)
        return key, token

    def authenticate(self, token: str) -> Principal:
        """The principal behind ``token``, or :class:`AuthenticationError`."""
        if len(token) > _MAX_TOKEN_LEN:
            raise _unauthenticated()
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise _unauthenticated()
        key_id = match.group(1)
        now = self._clock.now()
        with self._store.unit() as u:
            key = u.api_keys.get_for_auth(key_id)
            if key is None or not key.usable_at(now):
                raise _unauthenticated()
            if key.tenant_id is not None:
                tenant = u.tenants.get(key.tenant_id)
                if tenant is None or tenant.status is not EntityStatus.ACTIVE:
                    raise _unauthenticated()
            if key.tenant_id is not None and key.owner_id is not None:
                owner = u.owners.get(key.tenant_id, key.owner_id)
                if owner is None or owner.status is not EntityStatus.ACTIVE:
                    raise _unauthenticated()
        if not self._verified(key, token, now):
            raise _unauthenticated()
        return Principal(key.id, key.role, key.tenant_id, key.owner_id, key.scopes, key.expires_at)

    def list(
        self,
        caller: Principal,
        *,
        tenant_id: str | None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[ApiKey]:
        """Keys the caller may see: its own owner's, a tenant's (operator), or operator keys."""
        caller.require(Permission.APIKEYS_READ)
        owner_id: str | None = None
        if tenant_id is not None:
            owner_id = caller.scope_for(tenant_id).owner_id
        elif not caller.is_operator:
            tenant_id, owner_id = caller.tenant_id, caller.owner_id
        with self._store.unit() as u:
            return u.api_keys.list(
                tenant_id=tenant_id, owner_id=owner_id, limit=limit, cursor=cursor
            )

    def revoke(self, caller: Principal, key_id: str) -> None:
        """Revoke a key the caller may manage; takes effect on the next request."""
        caller.require(Permission.APIKEYS_WRITE)
        now = self._clock.now()
        with self._store.unit() as u:
            key = u.api_keys.get_for_auth(key_id)
            visible = key is not None and (
                caller.is_operator
                or (key.tenant_id == caller.tenant_id and key.owner_id == caller.owner_id)
            )
            if key is None or not visible:
                raise NotFoundError(f"no API key {key_id}", code="apikey.not_found")
            u.api_keys.revoke(key_id, now)
        with self._lock:
            self._cache.pop(key_id, None)

    def grant(self, caller: Principal, key_id: str, scopes: Iterable[str]) -> ApiKey:
        """Add ``scopes`` to a live key: the one deliberate way to widen a key.

        Only the operator may do it, and only with permissions it holds itself; an
        owner key still cannot go past the owner permissions. Keys stay no wider than
        whoever widened them. Takes effect on the key's next request (the row is read
        on every call). Raises :class:`NotFoundError` for an unknown or revoked key.
        """
        caller.require(Permission.APIKEYS_WRITE)
        if not caller.is_operator:
            raise ForbiddenError("only the operator widens keys", code="apikey.role")
        added = frozenset(scopes)
        unknown = added - ALL_PERMISSIONS
        if unknown:
            raise ConflictError(f"unknown permission {sorted(unknown)[0]}", code="apikey.scope")
        if not added <= caller.scopes:
            extra = sorted(added - caller.scopes)[0]
            raise ForbiddenError(f"cannot grant {extra}: the caller lacks it", code="apikey.scope")
        with self._store.unit() as u:
            key = u.api_keys.get_for_auth(key_id)
            if key is None or key.revoked_at is not None:
                raise NotFoundError(f"no API key {key_id}", code="apikey.not_found")
            if key.role is not Role.OPERATOR and not added <= OWNER_PERMISSIONS:
                extra = sorted(added - OWNER_PERMISSIONS)[0]
                raise ForbiddenError(f"owner keys cannot hold {extra}", code="apikey.scope")
            widened = key.scopes | added
            if widened != key.scopes and not u.api_keys.set_scopes(key_id, widened):
                raise NotFoundError(f"no API key {key_id}", code="apikey.not_found")
        return dataclasses.replace(key, scopes=widened)

    def _verified(self, key: ApiKey, token: str, now: dt.datetime) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            cached = self._cache.get(key.id)
        if cached is not None and cached[1] > now and hmac.compare_digest(cached[0], digest):
            return True
        if not self._hasher.verify(key.secret_hash, token):
            return False
        if self._cache_ttl > dt.timedelta(0):
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key.id] = (digest, now + self._cache_ttl)
        return True
