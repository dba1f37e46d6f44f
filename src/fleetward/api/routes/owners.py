"""``/v1/tenants/{tenant_id}/owners``: owners inside one tenant."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetward.access import Permission
from fleetward.api.deps import Caller, Ctx, Cursor, Limit
from fleetward.api.openapi import errors
from fleetward.api.schemas import OwnerIn, OwnerOut, OwnerPatch, PageOut

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/owners", tags=["owners"], responses=errors(401, 403, 404, 422)
)


@router.get("", response_model=PageOut[OwnerOut])
def list_owners(
    tenant_id: str, ctx: Ctx, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[OwnerOut]:
    """Owners of the tenant (an owner key sees only itself)."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_READ)
    page = ctx.registry.list_owners(scope, limit=min(limit, ctx.max_page_size), cursor=cursor)
    return PageOut(items=[OwnerOut.of(o) for o in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=OwnerOut, responses=errors(409))
def create_owner(tenant_id: str, body: OwnerIn, ctx: Ctx, caller: Caller) -> OwnerOut:
    """Add an owner to the tenant."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_WRITE)
    return OwnerOut.of(ctx.registry.create_owner(scope, body.name, body.email))


@router.get("/{owner_id}", response_model=OwnerOut)
def get_owner(tenant_id: str, owner_id: str, ctx: Ctx, caller: Caller) -> OwnerOut:
    """One owner."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_READ)
    return OwnerOut.of(ctx.registry.get_owner(scope, owner_id))


@router.patch("/{owner_id}", response_model=OwnerOut, responses=errors(409))
def update_owner(
    tenant_id: str, owner_id: str, body: OwnerPatch, ctx: Ctx, caller: Caller
) -> OwnerOut:
    """Rename, re-address, suspend (their keys stop working) or resume an owner."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_WRITE)
    owner = ctx.registry.update_owner(
        scope, owner_id, name=body.name, email=body.email, status=body.status
    )
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "owner.updated")
    return OwnerOut.of(owner)


@router.delete("/{owner_id}", status_code=204, response_class=Response)
def delete_owner(tenant_id: str, owner_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Delete an owner with their devices and keys."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_WRITE)
    ctx.registry.delete_owner(scope, owner_id)
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "owner.deleted")
    return Response(status_code=204)
