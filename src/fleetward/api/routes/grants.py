"""Per-device rules over REST: grants, gateway children and limits.

Reading needs ``access:read``, changing ``access:write``. A grant's patterns must each
name one device the caller can see (422 ``access.pattern_scope`` otherwise, also for
``devices/+/…`` and ``$fleet/#``); another tenant's or owner's device answers 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetward.access import Permission
from fleetward.api.access_schemas import (
    ChildIn,
    ChildrenOut,
    GrantIn,
    GrantOut,
    LimitsIn,
    LimitsOut,
)
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import actor, patterns_in_scope, tenant_scope

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", tags=["device rules"], responses=errors(401, 403, 404, 422)
)


@router.get("/devices/{device_id}/grants", response_model=list[GrantOut])
def list_grants(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> list[GrantOut]:
    """A device's grants, revoked ones included (with ``revoked_at``)."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    return [GrantOut.of(g) for g in ctx.access.rules.grants(scope, device_id)]


@router.post(
    "/devices/{device_id}/grants", status_code=201, response_model=GrantOut, responses=errors(409)
)
def add_grant(tenant_id: str, device_id: str, body: GrantIn, ctx: Ctx, caller: Caller) -> GrantOut:
    """Let a device publish or subscribe to topics of other devices of the same owner."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    device = ctx.registry.get_device(scope, device_id)  # the path's 404 comes first
    with patterns_in_scope():
        grant = ctx.access.rules.add_grant(
            scope,
            device.id,
            actor(caller),
            publish=tuple(body.publish),
            subscribe=tuple(body.subscribe),
            expires_at=body.expires_at,
        )
    rows = [g for g in ctx.access.rules.grants(scope, device.id) if g.grant.id == grant.id]
    return GrantOut.of(rows[0]) if rows else GrantOut.new(device.id, grant)


@router.delete(
    "/grants/{grant_id}", status_code=204, response_class=Response, responses=errors(409)
)
def revoke_grant(tenant_id: str, grant_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Revoke a grant; subscriptions it allowed are dropped at once."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    ctx.access.rules.revoke_grant(scope, grant_id, actor(caller))
    return Response(status_code=204)


@router.get("/devices/{device_id}/children", response_model=ChildrenOut)
def list_children(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> ChildrenOut:
    """The devices a gateway acts for."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    return ChildrenOut(gateway_id=device_id, children=ctx.access.rules.children(scope, device_id))


@router.post(
    "/devices/{device_id}/children",
    status_code=201,
    response_model=ChildrenOut,
    responses=errors(409),
)
def add_child(
    tenant_id: str, device_id: str, body: ChildIn, ctx: Ctx, caller: Caller
) -> ChildrenOut:
    """Let a gateway act for a device (422 ``gateway.*`` for a non-gateway or a gateway child)."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    rules = ctx.access.rules
    rules.add_child(scope, device_id, body.child_id, actor(caller))
    return ChildrenOut(gateway_id=device_id, children=rules.children(scope, device_id))


@router.delete("/devices/{device_id}/children/{child_id}", status_code=204, response_class=Response)
def remove_child(
    tenant_id: str, device_id: str, child_id: str, ctx: Ctx, caller: Caller
) -> Response:
    """Stop a gateway acting for a device; its subscriptions for it are dropped."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    ctx.access.rules.remove_child(scope, device_id, child_id, actor(caller))
    return Response(status_code=204)


@router.get("/devices/{device_id}/limits", response_model=LimitsOut)
def get_limits(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> LimitsOut:
    """A device's limits (the hub defaults unless set)."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    return LimitsOut.of(device_id, ctx.access.rules.limits(scope, device_id))


@router.put("/devices/{device_id}/limits", response_model=LimitsOut)
def set_limits(
    tenant_id: str, device_id: str, body: LimitsIn, ctx: Ctx, caller: Caller
) -> LimitsOut:
    """Replace a device's limits: payload size, publish rate, listeners, networks."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    limits = body.limits()
    ctx.access.rules.set_limits(scope, device_id, limits, actor(caller))
    return LimitsOut.of(device_id, limits)
