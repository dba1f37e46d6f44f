"""SQL repositories. Every read or write of tenant data takes ``tenant_id``.

There is deliberately no method that looks a device, owner or credential up by id
alone: the tenant is part of every WHERE clause, so a bug in an edge cannot leak
another tenant's rows. The one pre-authentication lookup, :meth:`SqlApiKeys.get_for_auth`,
finds a key by its public id because the key is what tells us the tenant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from fleetward.clock import utc
from fleetward.registry.models import (
    ApiKey,
    Device,
    DeviceCredential,
    DeviceKind,
    DeviceStatus,
    EntityStatus,
    Owner,
    Page,
    Role,
    Tenant,
)
from fleetward.registry.sql.tables import api_keys, device_credentials, devices, owners, tenants

__all__ = ["SqlApiKeys", "SqlCredentials", "SqlDevices", "SqlOwners", "SqlTenants"]

T = TypeVar("T")


def _page(
    conn: Connection,
    query: Select[Any],
    table: Table,
    mapper: Callable[[RowMapping], T],
    *,
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """Keyset pagination over the time-ordered primary key."""
    if cursor is not None:
        query = query.where(table.c.id > cursor)
    rows = conn.execute(query.order_by(table.c.id).limit(limit + 1)).mappings().all()
    items = [mapper(r) for r in rows[:limit]]
    next_cursor = rows[limit - 1]["id"] if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def _opt_utc(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


def _tenant(r: RowMapping) -> Tenant:
    return Tenant(
        id=r["id"],
        name=r["name"],
        status=EntityStatus(r["status"]),
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )


def _owner(r: RowMapping) -> Owner:
    return Owner(
        id=r["id"],
        tenant_id=r["tenant_id"],
        name=r["name"],
        email=r["email"],
        status=EntityStatus(r["status"]),
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )


def _device(r: RowMapping) -> Device:
    return Device(
        id=r["id"],
        tenant_id=r["tenant_id"],
        owner_id=r["owner_id"],
        name=r["name"],
        kind=DeviceKind(r["kind"]),
        site=r["site"],
        tags=tuple(r["tags"]),
        status=DeviceStatus(r["status"]),
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )


def read_credential(r: RowMapping) -> DeviceCredential:
    """A ``device_credentials`` row as a record (shared with the access layer)."""
    return DeviceCredential(
        id=r["id"],
        tenant_id=r["tenant_id"],
        device_id=r["device_id"],
        kind=r["kind"],
        secret_hash=r["secret_hash"],
        fingerprint=r["fingerprint"],
        created_at=utc(r["created_at"]),
        expires_at=_opt_utc(r["expires_at"]),
        revoked_at=_opt_utc(r["revoked_at"]),
    )


def _api_key(r: RowMapping) -> ApiKey:
    return ApiKey(
        id=r["id"],
        role=Role(r["role"]),
        tenant_id=r["tenant_id"],
        owner_id=r["owner_id"],
        name=r["name"],
        scopes=frozenset(r["scopes"]),
        secret_hash=r["secret_hash"],
        created_at=utc(r["created_at"]),
        expires_at=utc(r["expires_at"]),
        revoked_at=_opt_utc(r["revoked_at"]),
        created_by=r["created_by"],
    )


def _values(record: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in record.__slots__:
        if name in exclude:
            continue
        value = getattr(record, name)
        if isinstance(value, tuple | frozenset):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        out[name] = value
    return out


class SqlTenants:
    """Tenants are global records: only the operator's edges reach them."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, tenant: Tenant) -> None:
        """Insert ``tenant``."""
        self._conn.execute(insert(tenants).values(_values(tenant)))

    def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id, if any."""
        row = self._conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings()
        first = row.first()
        return _tenant(first) if first else None

    def name_taken(self, name: str) -> bool:
        """Whether a tenant already uses ``name``."""
        query = select(func.count()).select_from(tenants).where(tenants.c.name == name)
        return bool(self._conn.execute(query).scalar_one())

    def list(self, *, limit: int, cursor: str | None = None) -> Page[Tenant]:
        """One page of tenants in creation order."""
        return _page(self._conn, select(tenants), tenants, _tenant, limit=limit, cursor=cursor)

    def update(self, tenant_id: str, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to one tenant."""
        self._conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**changes))

    def delete(self, tenant_id: str) -> bool:
        """Delete a tenant and, by cascade, everything it holds."""
        return self._conn.execute(delete(tenants).where(tenants.c.id == tenant_id)).rowcount > 0


class SqlOwners:
    """Owners, always within one tenant."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, owner: Owner) -> None:
        """Insert ``owner``."""
        self._conn.execute(insert(owners).values(_values(owner)))

    def get(self, tenant_id: str, owner_id: str) -> Owner | None:
        """The owner with this id in this tenant, if any."""
        query = select(owners).where(owners.c.tenant_id == tenant_id, owners.c.id == owner_id)
        row = self._conn.execute(query).mappings().first()
        return _owner(row) if row else None

    def list(self, tenant_id: str, *, limit: int, cursor: str | None = None) -> Page[Owner]:
        """One page of this tenant's owners."""
        query = select(owners).where(owners.c.tenant_id == tenant_id)
        return _page(self._conn, query, owners, _owner, limit=limit, cursor=cursor)

    def update(self, tenant_id: str, owner_id: str, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to one owner of this tenant."""
        self._conn.execute(
            update(owners)
            .where(owners.c.tenant_id == tenant_id, owners.c.id == owner_id)
            .values(**changes)
        )

    def delete(self, tenant_id: str, owner_id: str) -> bool:
        """Delete an owner of this tenant (cascading to their devices and keys)."""
        query = delete(owners).where(owners.c.tenant_id == tenant_id, owners.c.id == owner_id)
        return self._conn.execute(query).rowcount > 0


class SqlDevices:
    """Devices, always within one tenant and optionally one owner."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, device: Device) -> None:
        """Insert ``device``."""
        self._conn.execute(insert(devices).values(_values(device)))

    def get(self, tenant_id: str, device_id: str, *, owner_id: str | None = None) -> Device | None:
        """The device, if it is in this tenant (and belongs to ``owner_id`` when given)."""
        query = select(devices).where(devices.c.tenant_id == tenant_id, devices.c.id == device_id)
        if owner_id is not None:
            query = query.where(devices.c.owner_id == owner_id)
        row = self._conn.execute(query).mappings().first()
        return _device(row) if row else None

    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        owner_id: str | None = None,
        site: str | None = None,
        status: DeviceStatus | None = None,
    ) -> Page[Device]:
        """One page of this tenant's devices, filtered."""
        query = select(devices).where(devices.c.tenant_id == tenant_id)
        if owner_id is not None:
            query = query.where(devices.c.owner_id == owner_id)
        if site is not None:
            query = query.where(devices.c.site == site)
        if status is not None:
            query = query.where(devices.c.status == status.value)
        return _page(self._conn, query, devices, _device, limit=limit, cursor=cursor)

    def update(self, tenant_id: str, device_id: str, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to one device of this tenant."""
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
        self._conn.execute(
            update(devices)
            .where(devices.c.tenant_id == tenant_id, devices.c.id == device_id)
            .values(**values)
        )

    def delete(self, tenant_id: str, device_id: str) -> bool:
        """Delete one device of this tenant."""
        query = delete(devices).where(devices.c.tenant_id == tenant_id, devices.c.id == device_id)
        return self._conn.execute(query).rowcount > 0


class SqlCredentials:
    """Device credentials (hashes and fingerprints only), within one tenant."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, credential: DeviceCredential) -> None:
        """Insert ``credential``."""
        self._conn.execute(insert(device_credentials).values(_values(credential)))

    def for_device(self, tenant_id: str, device_id: str) -> list[DeviceCredential]:
        """All credentials of one device of this tenant, oldest first."""
        query = (
            select(device_credentials)
            .where(
                device_credentials.c.tenant_id == tenant_id,
                device_credentials.c.device_id == device_id,
            )
            .order_by(device_credentials.c.id)
        )
        return [read_credential(r) for r in self._conn.execute(query).mappings()]

    def revoke(self, tenant_id: str, credential_id: str, now: dt.datetime) -> bool:
        """Mark one credential of this tenant revoked."""
        query = (
            update(device_credentials)
            .where(
                device_credentials.c.tenant_id == tenant_id,
                device_credentials.c.id == credential_id,
                device_credentials.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return self._conn.execute(query).rowcount > 0


class SqlApiKeys:
    """API keys: looked up by public id to authenticate, listed within a scope."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, key: ApiKey) -> None:
        """Insert ``key``."""
        self._conn.execute(insert(api_keys).values(_values(key)))

    def get_for_auth(self, key_id: str) -> ApiKey | None:
        """The key with this public id; the only lookup made before the tenant is known."""
        row = self._conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings()
        first = row.first()
        return _api_key(first) if first else None

    def list(
        self,
        *,
        tenant_id: str | None,
        owner_id: str | None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[ApiKey]:
        """Keys of one owner, of one tenant, or (both ``None``) the operator's own keys."""
        query = select(api_keys)
        if tenant_id is None:
            query = query.where(api_keys.c.tenant_id.is_(None))
        else:
            query = query.where(api_keys.c.tenant_id == tenant_id)
        if owner_id is not None:
            query = query.where(api_keys.c.owner_id == owner_id)
        return _page(self._conn, query, api_keys, _api_key, limit=limit, cursor=cursor)

    def count_operator_keys(self) -> int:
        """How many operator keys exist (revoked ones included)."""
        query = select(func.count()).select_from(api_keys).where(api_keys.c.role == "operator")
        return int(self._conn.execute(query).scalar_one())

    def revoke(self, key_id: str, now: dt.datetime) -> bool:
        """Mark a key revoked; a second revoke is a no-op."""
        query = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return self._conn.execute(query).rowcount > 0

    def set_scopes(self, key_id: str, scopes: frozenset[str]) -> bool:
        """Replace an unrevoked key's permissions; ``False`` if it is gone or revoked."""
        query = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(scopes=sorted(scopes))
        )
        return self._conn.execute(query).rowcount > 0
