"""``/v1/tenants/{tenant_id}/devices``: devices; an owner key sees only its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from fleetward.access import Permission
from fleetward.api.deps import Caller, Ctx, Cursor, Limit
from fleetward.api.openapi import errors
from fleetward.api.schemas import DeviceIn, DeviceOut, DevicePatch, PageOut
from fleetward.errors import InvalidInputError
from fleetward.registry import DeviceStatus

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/devices",
    tags=["devices"],
    responses=errors(401, 403, 404, 422),
)


@router.get("", response_model=PageOut[DeviceOut])
def list_devices(
    tenant_id: str,
    ctx: Ctx,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    status: DeviceStatus | None = None,
) -> PageOut[DeviceOut]:
    """Devices visible to the caller, filtered by owner, site or status."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    page = ctx.registry.list_devices(
        scope,
        limit=min(limit, ctx.max_page_size),
        cursor=cursor,
        owner_id=owner_id,
        site=site,
        status=status,
    )
    return PageOut(items=[DeviceOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=DeviceOut, responses=errors(409))
def create_device(tenant_id: str, body: DeviceIn, ctx: Ctx, caller: Caller) -> DeviceOut:
    """Register a device; it stays ``pending`` until it enrols."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    owner_id = body.owner_id or scope.owner_id
    if owner_id is None:
        raise InvalidInputError(
            "owner_id: required for operator keys", code="device.owner_required"
        )
    device = ctx.registry.create_device(
        scope, owner_id=owner_id, name=body.name, kind=body.kind, site=body.site, tags=body.tags
    )
    return DeviceOut.of(device)


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> DeviceOut:
    """One device."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    return DeviceOut.of(ctx.registry.get_device(scope, device_id))


@router.patch("/{device_id}", response_model=DeviceOut, responses=errors(409))
def update_device(
    tenant_id: str, device_id: str, body: DevicePatch, ctx: Ctx, caller: Caller
) -> DeviceOut:
    """Rename, re-site, re-tag, suspend, resume or revoke a device."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    device = ctx.registry.update_device(
        scope, device_id, name=body.name, site=body.site, tags=body.tags, status=body.status
    )
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "device.updated")
    return DeviceOut.of(device)


@router.delete("/{device_id}", status_code=204, response_class=Response)
def delete_device(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Delete a device and its credentials."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    ctx.registry.delete_device(scope, device_id)
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "device.deleted")
    return Response(status_code=204)
