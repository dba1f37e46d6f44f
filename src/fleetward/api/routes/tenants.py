"""``/v1/tenants``: the operator's view of tenants; an owner sees only its own."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetward.access import Permission
from fleetward.api.deps import Caller, Ctx, Cursor, Limit
from fleetward.api.openapi import errors
from fleetward.api.schemas import PageOut, TenantIn, TenantOut, TenantPatch
from fleetward.errors import ForbiddenError

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], responses=errors(401, 403, 422))


def _operator_only(caller: Caller) -> None:
    if not caller.is_operator:
        raise ForbiddenError("only the operator manages tenants", code="access.operator_only")


@router.get("", response_model=PageOut[TenantOut])
def list_tenants(
    ctx: Ctx, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[TenantOut]:
    """Tenants visible to the caller, in creation order."""
    caller.require(Permission.TENANTS_READ)
    if not caller.is_operator:
        own = (
            [TenantOut.of(ctx.registry.get_tenant(caller.tenant_id))]
            if caller.tenant_id and cursor is None
            else []
        )
        return PageOut(items=own, next_cursor=None)
    page = ctx.registry.list_tenants(limit=min(limit, ctx.max_page_size), cursor=cursor)
    return PageOut(items=[TenantOut.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=TenantOut, responses=errors(409))
def create_tenant(body: TenantIn, ctx: Ctx, caller: Caller) -> TenantOut:
    """Create a tenant (operator)."""
    _operator_only(caller)
    caller.require(Permission.TENANTS_WRITE)
    return TenantOut.of(ctx.registry.create_tenant(body.name))


@router.get("/{tenant_id}", response_model=TenantOut, responses=errors(404))
def get_tenant(tenant_id: str, ctx: Ctx, caller: Caller) -> TenantOut:
    """One tenant."""
    caller.scope_for(tenant_id)
    caller.require(Permission.TENANTS_READ)
    return TenantOut.of(ctx.registry.get_tenant(tenant_id))


@router.patch("/{tenant_id}", response_model=TenantOut, responses=errors(404, 409))
def update_tenant(tenant_id: str, body: TenantPatch, ctx: Ctx, caller: Caller) -> TenantOut:
    """Rename, suspend (every owner key of the tenant stops working) or resume a tenant."""
    caller.scope_for(tenant_id)
    _operator_only(caller)
    caller.require(Permission.TENANTS_WRITE)
    tenant = ctx.registry.update_tenant(tenant_id, name=body.name, status=body.status)
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "tenant.updated")
    return TenantOut.of(tenant)


@router.delete("/{tenant_id}", status_code=204, response_class=Response, responses=errors(404))
def delete_tenant(tenant_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Delete a tenant and everything in it."""
    caller.scope_for(tenant_id)
    _operator_only(caller)
    caller.require(Permission.TENANTS_WRITE)
    ctx.registry.delete_tenant(tenant_id)
    ctx.access.devices.resync(tenant_id, f"apikey:{caller.key_id}", "tenant.deleted")
    return Response(status_code=204)
