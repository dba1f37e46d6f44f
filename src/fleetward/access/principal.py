"""Who is calling, and what they may touch.

A :class:`Principal` is built from a verified credential. Its :meth:`scope_for` turns
a tenant named in a request into a registry :class:`Scope`; a tenant that is not the
caller's is *not found*. :meth:`require` checks a permission; missing one is
*forbidden*, which reveals nothing because it does not depend on the resource.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from fleetward.errors import ForbiddenError, NotFoundError
from fleetward.registry import Role, Scope

__all__ = ["ALL_PERMISSIONS", "OWNER_PERMISSIONS", "Permission", "Principal"]


class Permission(StrEnum):
    """What an API key may do."""

    TENANTS_READ = "tenants:read"
    TENANTS_WRITE = "tenants:write"
    OWNERS_READ = "owners:read"
    OWNERS_WRITE = "owners:write"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    APIKEYS_READ = "apikeys:read"
    APIKEYS_WRITE = "apikeys:write"
    ACCESS_READ = "access:read"
    ACCESS_WRITE = "access:write"
    AUDIT_READ = "audit:read"


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)
OWNER_PERMISSIONS: frozenset[str] = frozenset(
    {
        Permission.TENANTS_READ,
        Permission.OWNERS_READ,
        Permission.DEVICES_READ,
        Permission.DEVICES_WRITE,
        Permission.APIKEYS_READ,
        Permission.APIKEYS_WRITE,
        Permission.ACCESS_READ,
        Permission.ACCESS_WRITE,
        Permission.AUDIT_READ,
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key_id: str
    role: Role
    tenant_id: str | None
    owner_id: str | None
    scopes: frozenset[str]
    expires_at: dt.datetime | None

    @classmethod
    def local_operator(cls) -> Principal:
        """The operator at the hub's own console (the CLI with access to the data dir)."""
        return cls("local-console", Role.OPERATOR, None, None, ALL_PERMISSIONS, None)

    @property
    def is_operator(self) -> bool:
        """Whether this caller is the hub operator."""
        return self.role is Role.OPERATOR

    def require(self, permission: Permission) -> None:
        """Raise :class:`ForbiddenError` unless this caller holds ``permission``."""
        if permission.value not in self.scopes:
            raise ForbiddenError(
                f"this key lacks the {permission.value} permission", code="access.missing_scope"
            )

    def scope_for(self, tenant_id: str) -> Scope:
        """The registry scope this caller has in ``tenant_id``."""
        if self.is_operator:
            return Scope(tenant_id)
        if tenant_id != self.tenant_id:
            raise NotFoundError(f"no tenant {tenant_id}", code="tenant.not_found")
        return Scope(tenant_id, self.owner_id)
