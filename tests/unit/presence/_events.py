"""Builders of hub events for the presence tests (the broker's own event types)."""

from __future__ import annotations

import datetime as dt

from fleetward.events import ClientConnected, ClientDisconnected, PublishAccepted

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def connected(
    device: str, t: float, *, client: str | None = None, tenant: str = "t1"
) -> ClientConnected:
    return ClientConnected(
        at(t),
        client or device,
        device,
        tenant,
        "tls",
        5,
        "10.0.0.9:50000",
        "TLSv1.3",
        "0a1b",
        True,
        30,
    )


def disconnected(
    device: str,
    t: float,
    reason: str = "keepalive",
    *,
    client: str | None = None,
    tenant: str = "t1",
) -> ClientDisconnected:
    return ClientDisconnected(at(t), client or device, device, tenant, "tls", reason, None, False)


def published(
    device: str, t: float, *, client: str | None = None, tenant: str = "t1"
) -> PublishAccepted:
    return PublishAccepted(
        at(t), client or device, device, tenant, f"devices/{device}/telemetry/x", 0, False, 4
    )
