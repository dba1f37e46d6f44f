"""Records of the access layer's storage, and how SQL rows become them."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping

from fleetward.access.lists import AccessListEntry
from fleetward.access.policy import DeviceLimits, Grant
from fleetward.clock import utc
from fleetward.registry.models import DeviceCredential as CredentialRow
from fleetward.registry.sql.repos import read_credential
from fleetward.registry.sql.tables import devices, owners, tenants

__all__ = [
    "CredentialRow",
    "DeviceRow",
    "GrantRow",
    "ListRow",
    "MakerRow",
    "device_select",
    "read_credential",
    "read_device",
    "read_grant",
    "read_limits",
    "read_list_entry",
    "read_maker",
]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device with what decides whether it may connect at all."""

    id: str
    tenant_id: str
    owner_id: str
    kind: str
    status: str
    owner_status: str
    tenant_status: str
    site: str | None


@dataclass(frozen=True, slots=True)
class GrantRow:
    """A stored grant: the policy grant, whose door it widens, and when it was revoked."""

    device_id: str
    grant: Grant
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ListRow:
    """A stored deny/allow entry."""

    id: str
    entry: AccessListEntry
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MakerRow:
    """A registered maker CA (public material only)."""

    id: str
    tenant_id: str
    name: str
    fingerprint: str
    subject: str
    pem: str
    created_at: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None


def _opt(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


def device_select() -> Select[Any]:
    """Devices with their owner's and tenant's status (what :func:`read_device` reads)."""
    return (
        select(
            devices.c.id,
            devices.c.tenant_id,
            devices.c.owner_id,
            devices.c.kind,
            devices.c.status,
            devices.c.site,
            owners.c.status.label("owner_status"),
            tenants.c.status.label("tenant_status"),
        )
        .join(owners, owners.c.id == devices.c.owner_id)
        .join(tenants, tenants.c.id == devices.c.tenant_id)
    )


def read_device(r: RowMapping) -> DeviceRow:
    return DeviceRow(
        id=r["id"],
        tenant_id=r["tenant_id"],
        owner_id=r["owner_id"],
        kind=r["kind"],
        status=r["status"],
        owner_status=r["owner_status"],
        tenant_status=r["tenant_status"],
        site=r["site"],
    )


def read_grant(r: RowMapping) -> GrantRow:
    grant = Grant(
        id=r["id"],
        tenant_id=r["tenant_id"],
        publish=tuple(r["publish"]),
        subscribe=tuple(r["subscribe"]),
        expires_at=_opt(r["expires_at"]),
        issued_by=r["issued_by"],
    )
    return GrantRow(r["device_id"], grant, utc(r["created_at"]), _opt(r["revoked_at"]))


def read_list_entry(r: RowMapping) -> ListRow:
    entry = AccessListEntry(
        kind=r["kind"],
        value=r["value"],
        mode=r["mode"],
        scope=r["tenant_id"],
        expires_at=_opt(r["expires_at"]),
        reason=r["reason"],
    )
    return ListRow(r["id"], entry, r["created_by"], utc(r["created_at"]))


def read_maker(r: RowMapping) -> MakerRow:
    return MakerRow(
        id=r["id"],
        tenant_id=r["tenant_id"],
        name=r["name"],
        fingerprint=r["fingerprint"],
        subject=r["subject"],
        pem=r["pem"],
        created_at=utc(r["created_at"]),
        not_after=utc(r["not_after"]),
        revoked_at=_opt(r["revoked_at"]),
    )


def read_limits(r: RowMapping) -> DeviceLimits:
    listeners = r["allowed_listeners"]
    cidrs = r["allowed_cidrs"]
    return DeviceLimits(
        max_payload=r["max_payload"],
        publish_rate=r["publish_rate"],
        publish_burst=r["publish_burst"],
        allowed_listeners=frozenset(listeners) if listeners is not None else None,
        allowed_cidrs=tuple(ipaddress.ip_network(c) for c in cidrs) if cidrs is not None else None,
    )
