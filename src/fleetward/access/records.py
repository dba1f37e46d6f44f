"""Records of the access layer's storage, and how SQL rows become them."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from sqlalchemy.engine import RowMapping

from fleetward.access.lists import AccessListEntry
from fleetward.access.policy import DeviceLimits, Grant
from fleetward.clock import utc

__all__ = [
    "CredentialRow",
    "DeviceRow",
    "GrantRow",
    "ListRow",
    "MakerRow",
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


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """A device credential as the access layer needs it."""

    id: str
    tenant_id: str
    device_id: str
    kind: str
    secret_hash: str | None
    fingerprint: str | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _opt(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


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


def read_credential(r: RowMapping) -> CredentialRow:
    return CredentialRow(
        id=r["id"],
        tenant_id=r["tenant_id"],
        device_id=r["device_id"],
        kind=r["kind"],
        secret_hash=r["secret_hash"],
        fingerprint=r["fingerprint"],
        expires_at=_opt(r["expires_at"]),
        revoked_at=_opt(r["revoked_at"]),
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
