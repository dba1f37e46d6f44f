"""Registry use cases: create, read, change and delete tenants, owners and devices.

Every tenant-data call takes a :class:`Scope` (one tenant, optionally narrowed to one
owner) that the access layer derives from the caller. A record outside the scope is
reported as *not found*, never *forbidden*, so ids cannot be probed across tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fleetward.clock import Clock
from fleetward.errors import ConflictError, NotFoundError
from fleetward.registry.ids import new_id
from fleetward.registry.models import (
    Device,
    DeviceKind,
    DeviceStatus,
    EntityStatus,
    Owner,
    Page,
    Tenant,
    check_device_transition,
)
from fleetward.registry.sql.store import Store, Unit

__all__ = ["RegistryService", "Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a caller may act: one tenant, and within it every owner or just one."""

    tenant_id: str
    owner_id: str | None = None


def _missing(kind: str, ident: str) -> NotFoundError:
    return NotFoundError(f"no {kind} {ident}", code=f"{kind}.not_found")


class RegistryService:
    """Tenants, owners and devices over a :class:`Store`."""

    __slots__ = ("_clock", "_store")

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # -- tenants (operator only; the edges check that) ---------------------------------

    def create_tenant(self, name: str) -> Tenant:
        """A new active tenant; the name must be unique."""
        now = self._clock.now()
        tenant = Tenant(new_id(), name, EntityStatus.ACTIVE, now, now)
        with self._store.unit() as u:
            if u.tenants.name_taken(name):
                raise ConflictError(f"a tenant named {name!r} exists", code="tenant.name_taken")
            u.tenants.add(tenant)
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant, or :class:`NotFoundError`."""
        with self._store.unit() as u:
            return self._tenant(u, tenant_id)

    def list_tenants(self, *, limit: int, cursor: str | None = None) -> Page[Tenant]:
        """A page of tenants."""
        with self._store.unit() as u:
            return u.tenants.list(limit=limit, cursor=cursor)

    def update_tenant(
        self, tenant_id: str, *, name: str | None = None, status: EntityStatus | None = None
    ) -> Tenant:
        """Rename, suspend or resume a tenant."""
        with self._store.unit() as u:
            tenant = self._tenant(u, tenant_id)
            changes: dict[str, Any] = {}
            if name is not None and name != tenant.name:
                if u.tenants.name_taken(name):
                    raise ConflictError(f"a tenant named {name!r} exists", code="tenant.name_taken")
                changes["name"] = name
            if status is not None:
                changes["status"] = status
            if not changes:
                return tenant
            changes["updated_at"] = self._clock.now()
            u.tenants.update(tenant_id, changes)
            return replace(tenant, **changes)

    def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant with everything it holds."""
        with self._store.unit() as u:
            if not u.tenants.delete(tenant_id):
                raise _missing("tenant", tenant_id)

    # -- owners ------------------------------------------------------------------------

    def create_owner(self, scope: Scope, name: str, email: str | None = None) -> Owner:
        """A new active owner in the scope's tenant."""
        now = self._clock.now()
        owner = Owner(new_id(), scope.tenant_id, name, email, EntityStatus.ACTIVE, now, now)
        with self._store.unit() as u:
            self._tenant(u, scope.tenant_id)
            u.owners.add(owner)
        return owner

    def get_owner(self, scope: Scope, owner_id: str) -> Owner:
        """The owner if visible in ``scope``."""
        with self._store.unit() as u:
            return self._owner(u, scope, owner_id)

    def list_owners(self, scope: Scope, *, limit: int, cursor: str | None = None) -> Page[Owner]:
        """A page of the owners visible in ``scope``."""
        with self._store.unit() as u:
            self._tenant(u, scope.tenant_id)
            if scope.owner_id is not None:
                own = u.owners.get(scope.tenant_id, scope.owner_id)
                visible = [own] if own is not None and cursor is None else []
                return Page(items=visible)
            return u.owners.list(scope.tenant_id, limit=limit, cursor=cursor)

    def update_owner(
        self,
        scope: Scope,
        owner_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        status: EntityStatus | None = None,
    ) -> Owner:
        """Rename, re-address, suspend or resume an owner."""
        changes: dict[str, Any] = {
            k: v for k, v in (("name", name), ("email", email), ("status", status)) if v is not None
        }
        with self._store.unit() as u:
            owner = self._owner(u, scope, owner_id)
            if not changes:
                return owner
            changes["updated_at"] = self._clock.now()
            u.owners.update(scope.tenant_id, owner_id, changes)
            return replace(owner, **changes)

    def delete_owner(self, scope: Scope, owner_id: str) -> None:
        """Delete an owner together with their devices and keys."""
        with self._store.unit() as u:
            self._owner(u, scope, owner_id)
            u.owners.delete(scope.tenant_id, owner_id)

    # -- devices -----------------------------------------------------------------------

    def create_device(
        self,
        scope: Scope,
        *,
        owner_id: str,
        name: str,
        kind: DeviceKind = DeviceKind.DEVICE,
        site: str | None = None,
        tags: Sequence[str] = (),
    ) -> Device:
        """Register a device (status ``pending`` until it enrols) for an active owner."""
        now = self._clock.now()
        device = Device(
            id=new_id(),
            tenant_id=scope.tenant_id,
            owner_id=owner_id,
            name=name,
            kind=kind,
            site=site,
            tags=tuple(dict.fromkeys(tags)),
            status=DeviceStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        with self._store.unit() as u:
            owner = self._owner(u, scope, owner_id)
            if owner.status is not EntityStatus.ACTIVE:
                raise ConflictError(
                    f"owner {owner_id} is {owner.status.value}", code="owner.not_active"
                )
            u.devices.add(device)
        return device

    def get_device(self, scope: Scope, device_id: str) -> Device:
        """The device if visible in ``scope``."""
        with self._store.unit() as u:
            return self._device(u, scope, device_id)

    def list_devices(
        self,
        scope: Scope,
        *,
        limit: int,
        cursor: str | None = None,
        owner_id: str | None = None,
        site: str | None = None,
        status: DeviceStatus | None = None,
    ) -> Page[Device]:
        """A page of the devices visible in ``scope``, optionally filtered."""
        if scope.owner_id is not None:
            if owner_id is not None and owner_id != scope.owner_id:
                return Page()
            owner_id = scope.owner_id
        with self._store.unit() as u:
            self._tenant(u, scope.tenant_id)
            return u.devices.list(
                scope.tenant_id,
                limit=limit,
                cursor=cursor,
                owner_id=owner_id,
                site=site,
                status=status,
            )

    def update_device(
        self,
        scope: Scope,
        device_id: str,
        *,
        name: str | None = None,
        site: str | None = None,
        tags: Sequence[str] | None = None,
        status: DeviceStatus | None = None,
    ) -> Device:
        """Change a device's descriptive fields or move it along its lifecycle."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if site is not None:
            changes["site"] = site or None
        if tags is not None:
            changes["tags"] = tuple(dict.fromkeys(tags))
        with self._store.unit() as u:
            device = self._device(u, scope, device_id)
            if status is not None:
                check_device_transition(device.status, status)
                changes["status"] = status
            if not changes:
                return device
            changes["updated_at"] = self._clock.now()
            u.devices.update(scope.tenant_id, device_id, changes)
            return replace(device, **changes)

    def delete_device(self, scope: Scope, device_id: str) -> None:
        """Delete a device and its credentials."""
        with self._store.unit() as u:
            self._device(u, scope, device_id)
            u.devices.delete(scope.tenant_id, device_id)

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _tenant(u: Unit, tenant_id: str) -> Tenant:
        tenant = u.tenants.get(tenant_id)
        if tenant is None:
            raise _missing("tenant", tenant_id)
        return tenant

    @staticmethod
    def _owner(u: Unit, scope: Scope, owner_id: str) -> Owner:
        if scope.owner_id is not None and owner_id != scope.owner_id:
            raise _missing("owner", owner_id)
        owner = u.owners.get(scope.tenant_id, owner_id)
        if owner is None:
            raise _missing("owner", owner_id)
        return owner

    @staticmethod
    def _device(u: Unit, scope: Scope, device_id: str) -> Device:
        device = u.devices.get(scope.tenant_id, device_id, owner_id=scope.owner_id)
        if device is None:
            raise _missing("device", device_id)
        return device
