"""``ApiKeyService.grant`` on real SQLite and PostgreSQL: the one deliberate way to widen
a key, bounded by the caller's own permissions and the owner ceiling."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.access import Principal
from fleetward.access.apikeys import ApiKeyService
from fleetward.access.principal import Permission
from fleetward.clock import ManualClock
from fleetward.crypto import SecretHasher
from fleetward.errors import ConflictError, ForbiddenError, NotFoundError
from fleetward.registry import RegistryService, Role, Scope, Store

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CONSOLE = Principal.local_operator()


@pytest.fixture
def registry(store: Store) -> RegistryService:
    return RegistryService(store, ManualClock(NOW))


@pytest.fixture
def keys(store: Store) -> ApiKeyService:
    hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
    return ApiKeyService(
        store,
        hasher,
        ManualClock(NOW),
        max_ttl=dt.timedelta(days=365),
        cache_ttl=dt.timedelta(seconds=30),
    )


def test_grant_widens_a_live_key_on_its_next_request(keys: ApiKeyService) -> None:
    key, token = keys.create(CONSOLE, name="ro", role=Role.OPERATOR, scopes=["devices:read"])
    with pytest.raises(ForbiddenError):
        keys.authenticate(token).require(Permission.AUDIT_READ)

    widened = keys.grant(CONSOLE, key.id, ["audit:read", "access:read"])

    assert widened.scopes == {"devices:read", "audit:read", "access:read"}
    caller = keys.authenticate(token)  # cached argon2 check, fresh row
    caller.require(Permission.AUDIT_READ)
    caller.require(Permission.ACCESS_READ)
    with pytest.raises(ForbiddenError):
        caller.require(Permission.ACCESS_WRITE)


def test_grant_never_goes_past_the_caller(keys: ApiKeyService) -> None:
    _, admin_token = keys.create(
        CONSOLE, name="admin", role=Role.OPERATOR, scopes=["apikeys:write", "devices:read"]
    )
    admin = keys.authenticate(admin_token)
    target, _ = keys.create(CONSOLE, name="t", role=Role.OPERATOR, scopes=["devices:read"])
    with pytest.raises(ForbiddenError, match="audit:read"):
        keys.grant(admin, target.id, ["audit:read"])
    with pytest.raises(ConflictError, match="unknown permission"):
        keys.grant(CONSOLE, target.id, ["everything"])


def test_owner_keys_cannot_grant_nor_pass_the_owner_ceiling(
    keys: ApiKeyService, registry: RegistryService
) -> None:
    tenant = registry.create_tenant("acme")
    owner = registry.create_owner(Scope(tenant.id), "alice")
    key, token = keys.create(
        CONSOLE,
        name="o",
        role=Role.OWNER,
        tenant_id=tenant.id,
        owner_id=owner.id,
        scopes=["devices:read", "apikeys:write"],
    )
    with pytest.raises(ForbiddenError, match="tenants:write"):
        keys.grant(CONSOLE, key.id, ["tenants:write"])
    with pytest.raises(ForbiddenError, match="only the operator"):
        keys.grant(keys.authenticate(token), key.id, ["devices:read"])
    assert keys.grant(CONSOLE, key.id, ["audit:read"]).scopes == {
        "devices:read",
        "apikeys:write",
        "audit:read",
    }


def test_revoked_and_unknown_keys_are_not_found(keys: ApiKeyService) -> None:
    key, _ = keys.create(CONSOLE, name="gone", role=Role.OPERATOR, scopes=["devices:read"])
    keys.revoke(CONSOLE, key.id)
    with pytest.raises(NotFoundError):
        keys.grant(CONSOLE, key.id, ["audit:read"])
    with pytest.raises(NotFoundError):
        keys.grant(CONSOLE, "abcdefghijkm", ["audit:read"])
