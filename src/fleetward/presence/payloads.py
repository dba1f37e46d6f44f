"""JSON shapes of presence and alerts, shared by the retained topic, webhooks and REST.

Built field by field (never by dumping a record) so that a field added later cannot leak
onto the wire unnoticed. Times are RFC 3339 UTC strings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from fleetward.presence.model import DevicePresence, PresenceStatus
from fleetward.presence.records import AlertRecord

__all__ = [
    "ALERTS_PREFIX",
    "PRESENCE_PREFIX",
    "alert_json",
    "alerts_topic",
    "details_json",
    "presence_bytes",
    "presence_json",
    "presence_topic",
    "summarize",
    "timestamp",
]

PRESENCE_PREFIX = "$fleet/presence/"
ALERTS_PREFIX = "$fleet/alerts/"


def timestamp(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, or ``None``."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def presence_topic(device_id: str) -> str:
    """The retained topic of a device's presence (``$fleet/presence/{device_id}``)."""
    return PRESENCE_PREFIX + device_id


def presence_json(p: DevicePresence, *, history: bool = False) -> dict[str, Any]:
    """A device's presence as JSON; ``history`` adds the bounded session list."""
    c = p.connection
    body: dict[str, Any] = {
        "device_id": p.device_id,
        "status": p.status.value,
        "online": p.status in (PresenceStatus.ONLINE, PresenceStatus.SILENT),
        "since": timestamp(p.since),
        "last_seen": timestamp(p.last_seen),
        "via_gateway": p.via_gateway,
        "connection": None
        if c is None
        else {
            "client_id": c.client_id,
            "listener": c.listener,
            "protocol_version": c.protocol_version,
            "peer": c.peer,
            "tls_version": c.tls_version,
            "cert_serial": c.cert_serial,
            "keepalive": c.keepalive,
            "connected_at": timestamp(c.connected_at),
        },
    }
    if history:
        body["sessions"] = [
            {
                "client_id": s.client_id,
                "listener": s.listener,
                "peer": s.peer,
                "started_at": timestamp(s.started_at),
                "ended_at": timestamp(s.ended_at),
                "end_reason": s.end_reason,
            }
            for s in p.sessions
        ]
    return body


def presence_bytes(p: DevicePresence) -> bytes:
    """The retained message body (compact JSON, no session history)."""
    return json.dumps(presence_json(p), separators=(",", ":"), sort_keys=True).encode()


def summarize(items: Iterable[DevicePresence]) -> dict[str, Any]:
    """Counts by status, and by site then status (devices without a site under ``""``)."""
    by_status: dict[str, int] = {s.value: 0 for s in PresenceStatus}
    by_site: dict[str, dict[str, int]] = {}
    total = 0
    for p in items:
        total += 1
        by_status[p.status.value] += 1
        site = by_site.setdefault(p.site or "", {s.value: 0 for s in PresenceStatus})
        site[p.status.value] += 1
    return {"total": total, "by_status": by_status, "by_site": dict(sorted(by_site.items()))}


def details_json(details: Mapping[str, Any]) -> dict[str, Any]:
    """Alert details restricted to JSON scalars."""
    return {str(k): v for k, v in details.items() if v is None or isinstance(v, str | int | float)}


def alerts_topic(owner_id: str) -> str:
    """The owner's alert topic (``$fleet/alerts/{owner_id}``, not retained)."""
    return ALERTS_PREFIX + owner_id


def alert_json(a: AlertRecord) -> dict[str, Any]:
    """A stored alert as JSON (REST, webhooks and the owner topic share it)."""
    return {
        "id": a.id,
        "tenant_id": a.tenant_id,
        "owner_id": a.owner_id,
        "device_id": a.device_id,
        "site": a.site,
        "kind": a.kind,
        "state": a.state.value,
        "first_seen": timestamp(a.first_seen),
        "last_seen": timestamp(a.last_seen),
        "count": a.count,
        "details": details_json(a.details),
        "acknowledged_at": timestamp(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "resolved_at": timestamp(a.resolved_at),
        "resolution": a.resolution,
    }
