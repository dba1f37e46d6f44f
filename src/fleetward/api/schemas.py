"""Request and response bodies of the REST API (the public contract, in OpenAPI)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from fleetward.access import Permission
from fleetward.registry import (
    ApiKey,
    Device,
    DeviceKind,
    DeviceStatus,
    EntityStatus,
    Owner,
    Role,
    Tenant,
)

__all__ = [
    "ApiKeyCreated",
    "ApiKeyIn",
    "ApiKeyOut",
    "DeviceIn",
    "DeviceOut",
    "DevicePatch",
    "Health",
    "Me",
    "OwnerIn",
    "OwnerOut",
    "OwnerPatch",
    "PageOut",
    "TenantIn",
    "TenantOut",
    "TenantPatch",
]

T = TypeVar("T")


def _printable(value: str) -> str:
    """Refuse control characters and lone surrogates (they break logs and databases)."""
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("must not contain control characters")
    return value


_PRINTABLE = r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"  # at least one visible character
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=_PRINTABLE),
    AfterValidator(_printable),
]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    """One page; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None


class Health(BaseModel):
    """Liveness or readiness."""

    status: str


class TenantIn(_In):
    """A new tenant."""

    name: Name


class TenantPatch(_In):
    """Changes to a tenant; omitted fields stay as they are."""

    name: Name | None = None
    status: EntityStatus | None = None


class TenantOut(BaseModel):
    """A tenant."""

    id: str
    name: str
    status: EntityStatus
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantOut:
        """From the domain record."""
        return cls(
            id=t.id, name=t.name, status=t.status, created_at=t.created_at, updated_at=t.updated_at
        )


class OwnerIn(_In):
    """A new owner."""

    name: Name
    email: Email | None = None


class OwnerPatch(_In):
    """Changes to an owner."""

    name: Name | None = None
    email: Email | None = None
    status: EntityStatus | None = None


class OwnerOut(BaseModel):
    """An owner."""

    id: str
    tenant_id: str
    name: str
    email: str | None
    status: EntityStatus
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, o: Owner) -> OwnerOut:
        """From the domain record."""
        return cls(
            id=o.id,
            tenant_id=o.tenant_id,
            name=o.name,
            email=o.email,
            status=o.status,
            created_at=o.created_at,
            updated_at=o.updated_at,
        )


class DeviceIn(_In):
    """A new device. Owner keys may omit ``owner_id`` (it is the caller)."""

    name: Name
    owner_id: str | None = Field(default=None, max_length=64)
    kind: DeviceKind = DeviceKind.DEVICE
    site: Label | None = None
    tags: list[Label] = Field(default_factory=list, max_length=32)


class DevicePatch(_In):
    """Changes to a device. An empty ``site`` clears it."""

    name: Name | None = None
    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{0,64}$")] | None = None
    tags: list[Label] | None = Field(default=None, max_length=32)
    status: DeviceStatus | None = None


class DeviceOut(BaseModel):
    """A device."""

    id: str
    tenant_id: str
    owner_id: str
    name: str
    kind: DeviceKind
    site: str | None
    tags: list[str]
    status: DeviceStatus
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, d: Device) -> DeviceOut:
        """From the domain record."""
        return cls(
            id=d.id,
            tenant_id=d.tenant_id,
            owner_id=d.owner_id,
            name=d.name,
            kind=d.kind,
            site=d.site,
            tags=list(d.tags),
            status=d.status,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class ApiKeyIn(_In):
    """A new API key; it can never be wider than the key that creates it."""

    name: Name
    role: Role = Role.OWNER
    tenant_id: str | None = Field(default=None, max_length=64)
    owner_id: str | None = Field(default=None, max_length=64)
    scopes: list[Permission] | None = Field(default=None, max_length=16)
    expires_in_days: int = Field(default=90, ge=1, le=3650)


class ApiKeyOut(BaseModel):
    """An API key (never its secret)."""

    id: str
    role: Role
    tenant_id: str | None
    owner_id: str | None
    name: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        """From the domain record."""
        return cls(
            id=k.id,
            role=k.role,
            tenant_id=k.tenant_id,
            owner_id=k.owner_id,
            name=k.name,
            scopes=sorted(k.scopes),
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    """A freshly minted key: ``token`` is shown this once and never stored."""

    token: str


class Me(BaseModel):
    """The caller, as the hub sees it."""

    key_id: str
    role: Role
    tenant_id: str | None
    owner_id: str | None
    scopes: list[str]
