"""Presence and alerts of a tenant's devices; an owner key sees only its own devices.

Reading needs ``devices:read``; acknowledging or resolving an alert ``devices:write``.
A device or alert of another tenant or owner answers 404, like an unknown id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleetward.access import Permission
from fleetward.api.deps import Caller, Ctx, Cursor, Limit
from fleetward.api.openapi import errors
from fleetward.api.presence_schemas import AlertOut, FleetSummaryOut, PresenceOut
from fleetward.api.schemas import PageOut
from fleetward.errors import UnavailableError
from fleetward.presence import (
    AlertState,
    DevicePresence,
    PresenceMonitor,
    PresenceStatus,
    SqlAlertStore,
)
from fleetward.presence.payloads import summarize

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}",
    tags=["presence"],
    responses=errors(401, 403, 404, 422, 503),
)

_SUMMARY_PAGE = 1000


def _monitor(ctx: Ctx) -> PresenceMonitor:
    if ctx.presence is None:
        raise UnavailableError("presence is not enabled on this hub", code="presence.disabled")
    return ctx.presence


def _alerts(ctx: Ctx) -> SqlAlertStore:
    store = _monitor(ctx).alerts
    if store is None:
        raise UnavailableError("alert storage is not configured", code="presence.disabled")
    return store


def _never_seen(device_id: str) -> DevicePresence:
    return DevicePresence(device_id, None, PresenceStatus.NEVER_SEEN, None, None, None, ())


@router.get("/devices/{device_id}/presence", response_model=PresenceOut)
def device_presence(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> PresenceOut:
    """A device's status, last seen time, live connection facts and recent sessions."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    device = ctx.registry.get_device(scope, device_id)  # 404 for anyone else's device
    return PresenceOut.of(_monitor(ctx).get(device.id) or _never_seen(device.id))


@router.get("/fleet/summary", response_model=FleetSummaryOut)
def fleet_summary(tenant_id: str, ctx: Ctx, caller: Caller) -> FleetSummaryOut:
    """How many of the caller's devices are online, silent, offline or never seen, by site."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    monitor = _monitor(ctx)
    items: list[DevicePresence] = []
    cursor: str | None = None
    while True:
        page = ctx.registry.list_devices(scope, limit=_SUMMARY_PAGE, cursor=cursor)
        for d in page.items:
            p = monitor.get(d.id) or _never_seen(d.id)
            items.append(
                DevicePresence(
                    d.id, d.tenant_id, p.status, p.since, p.last_seen, None, (), site=d.site
                )
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    return FleetSummaryOut.model_validate(summarize(items))


@router.get("/alerts", response_model=PageOut[AlertOut])
def list_alerts(
    tenant_id: str,
    ctx: Ctx,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: AlertState | None = None,
    device_id: Annotated[str | None, Query(max_length=128)] = None,
) -> PageOut[AlertOut]:
    """The alert history, oldest first, filtered by state or device."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    page = _alerts(ctx).list(
        scope.tenant_id,
        owner_id=scope.owner_id,
        state=state,
        device_id=device_id,
        limit=min(limit, ctx.max_page_size),
        cursor=cursor,
    )
    return PageOut(items=[AlertOut.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut, responses=errors(409))
def acknowledge_alert(tenant_id: str, alert_id: str, ctx: Ctx, caller: Caller) -> AlertOut:
    """Say someone is on it; a resolved alert cannot be acknowledged (409)."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    record = _alerts(ctx).acknowledge(
        scope.tenant_id,
        alert_id,
        by=f"key:{caller.key_id}",
        now=_monitor(ctx).clock.now(),
        owner_id=scope.owner_id,
    )
    return AlertOut.of(record)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=errors(409))
def resolve_alert(tenant_id: str, alert_id: str, ctx: Ctx, caller: Caller) -> AlertOut:
    """Close an alert by hand; a repeat of the condition later opens a new one."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    record = _alerts(ctx).resolve(
        scope.tenant_id,
        alert_id,
        by=f"key:{caller.key_id}",
        now=_monitor(ctx).clock.now(),
        owner_id=scope.owner_id,
    )
    return AlertOut.of(record)
