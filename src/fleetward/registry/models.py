"""Domain records of the registry: tenants, owners, devices, credentials, API keys.

Plain frozen dataclasses: the SQL adapter maps rows to these, services and edges use
only these. Status changes go through the transition tables below so an illegal change
(for example reviving a revoked device) fails at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from fleetward.errors import ConflictError

__all__ = [
    "ApiKey",
    "Device",
    "DeviceCredential",
    "DeviceKind",
    "DeviceStatus",
    "EntityStatus",
    "Owner",
    "Page",
    "Role",
    "Tenant",
    "check_device_transition",
]

T = TypeVar("T")


class EntityStatus(StrEnum):
    """Lifecycle of tenants and owners."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class DeviceStatus(StrEnum):
    """Lifecycle of a device; ``revoked`` is terminal."""

    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class DeviceKind(StrEnum):
    """A plain device, or a gateway that may speak for registered children."""

    DEVICE = "device"
    GATEWAY = "gateway"


class Role(StrEnum):
    """Who an API key speaks for: the hub operator, or one owner inside one tenant."""

    OPERATOR = "operator"
    OWNER = "owner"


_DEVICE_TRANSITIONS: dict[DeviceStatus, frozenset[DeviceStatus]] = {
    DeviceStatus.PENDING: frozenset(
        {DeviceStatus.ACTIVE, DeviceStatus.SUSPENDED, DeviceStatus.REVOKED}
    ),
    DeviceStatus.ACTIVE: frozenset({DeviceStatus.SUSPENDED, DeviceStatus.REVOKED}),
    DeviceStatus.SUSPENDED: frozenset({DeviceStatus.ACTIVE, DeviceStatus.REVOKED}),
    DeviceStatus.REVOKED: frozenset(),
}


def check_device_transition(current: DeviceStatus, target: DeviceStatus) -> None:
    """Raise :class:`ConflictError` unless ``current -> target`` is allowed (or a no-op)."""
    if current == target:
        return
    if target not in _DEVICE_TRANSITIONS[current]:
        raise ConflictError(
            f"a {current.value} device cannot become {target.value}",
            code="device.illegal_transition",
        )


@dataclass(frozen=True, slots=True)
class Tenant:
    """An isolated organisation; nothing crosses between tenants."""

    id: str
    name: str
    status: EntityStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Owner:
    """A user who owns devices inside one tenant."""

    id: str
    tenant_id: str
    name: str
    email: str | None
    status: EntityStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Device:
    """One asset with its own door (topic namespace and policy)."""

    id: str
    tenant_id: str
    owner_id: str
    name: str
    kind: DeviceKind
    site: str | None
    tags: tuple[str, ...]
    status: DeviceStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """A way for a device to prove itself; only a hash or a fingerprint is stored."""

    id: str
    tenant_id: str
    device_id: str
    kind: str
    secret_hash: str | None
    fingerprint: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A REST credential: scoped, expiring, revocable; only its argon2 hash is stored."""

    id: str
    role: Role
    tenant_id: str | None
    owner_id: str | None
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None
    created_by: str | None = None

    def usable_at(self, now: dt.datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None
