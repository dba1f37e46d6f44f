"""Response bodies of the presence and alert routes (kept apart from the registry's)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from fleetward.presence import AlertRecord, AlertState, DevicePresence, PresenceStatus
from fleetward.presence.payloads import details_json

__all__ = ["AlertOut", "ConnectionOut", "FleetSummaryOut", "PresenceOut", "SessionOut"]


class ConnectionOut(BaseModel):
    """The live connection a device is using."""

    client_id: str
    listener: str
    protocol_version: int
    peer: str
    tls_version: str | None
    cert_serial: str | None
    keepalive: int
    connected_at: dt.datetime


class SessionOut(BaseModel):
    """One recent connection (the history is bounded)."""

    client_id: str
    listener: str
    peer: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None


class PresenceOut(BaseModel):
    """Where a device stands now."""

    device_id: str
    status: PresenceStatus
    online: bool
    since: dt.datetime | None
    last_seen: dt.datetime | None
    via_gateway: str | None
    connection: ConnectionOut | None
    sessions: list[SessionOut]

    @classmethod
    def of(cls, p: DevicePresence) -> PresenceOut:
        """From the tracker's snapshot."""
        c = p.connection
        return cls(
            device_id=p.device_id,
            status=p.status,
            online=p.status in (PresenceStatus.ONLINE, PresenceStatus.SILENT),
            since=p.since,
            last_seen=p.last_seen,
            via_gateway=p.via_gateway,
            connection=None
            if c is None
            else ConnectionOut(
                client_id=c.client_id,
                listener=c.listener,
                protocol_version=c.protocol_version,
                peer=c.peer,
                tls_version=c.tls_version,
                cert_serial=c.cert_serial,
                keepalive=c.keepalive,
                connected_at=c.connected_at,
            ),
            sessions=[
                SessionOut(
                    client_id=s.client_id,
                    listener=s.listener,
                    peer=s.peer,
                    started_at=s.started_at,
                    ended_at=s.ended_at,
                    end_reason=s.end_reason,
                )
                for s in reversed(p.sessions)
            ],
        )


class FleetSummaryOut(BaseModel):
    """Counts of the caller's devices by status, and by site then status."""

    total: int
    by_status: dict[str, int]
    by_site: dict[str, dict[str, int]]


class AlertOut(BaseModel):
    """A stored alert."""

    id: str
    owner_id: str | None
    device_id: str | None
    site: str | None
    kind: str
    state: AlertState
    first_seen: dt.datetime
    last_seen: dt.datetime
    count: int
    details: dict[str, Any]
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolution: str | None

    @classmethod
    def of(cls, a: AlertRecord) -> AlertOut:
        """From the stored record."""
        return cls(
            id=a.id,
            owner_id=a.owner_id,
            device_id=a.device_id,
            site=a.site,
            kind=a.kind,
            state=a.state,
            first_seen=a.first_seen,
            last_seen=a.last_seen,
            count=a.count,
            details=details_json(a.details),
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by,
            resolved_at=a.resolved_at,
            resolution=a.resolution,
        )
