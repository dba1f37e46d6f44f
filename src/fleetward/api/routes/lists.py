"""Deny and allow lists over REST, per tenant and hub-wide; the operator's alone.

A deny entry refuses matching connections at once (live sessions end); an allow list,
once it holds an entry of a kind, admits only what it names. Tenant routes check the
tenant first (unknown: 404), then the operator role (403 ``access.operator_only``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetward.access import Permission
from fleetward.api.access_schemas import ListEntryIn, ListEntryOut
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import actor, operator_only, tenant_scope

router = APIRouter(prefix="/v1", tags=["access lists"], responses=errors(401, 403, 404, 422))

_WHAT = "deny and allow lists"


def _add(ctx: Ctx, caller: Caller, tenant_id: str | None, body: ListEntryIn) -> ListEntryOut:
    row = ctx.access.rules.add_list_entry(
        tenant_id,
        actor(caller),
        mode=body.mode,
        kind=body.kind,
        value=body.value,
        expires_at=body.expires_at,
        reason=body.reason,
    )
    return ListEntryOut.of(row)


@router.get("/tenants/{tenant_id}/access-lists", response_model=list[ListEntryOut])
def list_tenant_entries(tenant_id: str, ctx: Ctx, caller: Caller) -> list[ListEntryOut]:
    """The tenant's deny and allow entries."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    operator_only(caller, _WHAT)
    return [ListEntryOut.of(r) for r in ctx.access.rules.list_entries(tenant_id)]


@router.post("/tenants/{tenant_id}/access-lists", status_code=201, response_model=ListEntryOut)
def add_tenant_entry(tenant_id: str, body: ListEntryIn, ctx: Ctx, caller: Caller) -> ListEntryOut:
    """Add a deny or allow entry for one tenant's devices and clients."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    operator_only(caller, _WHAT)
    return _add(ctx, caller, tenant_id, body)


@router.delete(
    "/tenants/{tenant_id}/access-lists/{entry_id}", status_code=204, response_class=Response
)
def delete_tenant_entry(tenant_id: str, entry_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Remove a tenant entry."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    operator_only(caller, _WHAT)
    ctx.access.rules.delete_list_entry(tenant_id, entry_id, actor(caller))
    return Response(status_code=204)


@router.get("/access-lists", response_model=list[ListEntryOut])
def list_global_entries(ctx: Ctx, caller: Caller) -> list[ListEntryOut]:
    """The hub-wide deny and allow entries."""
    operator_only(caller, _WHAT)
    caller.require(Permission.ACCESS_READ)
    return [ListEntryOut.of(r) for r in ctx.access.rules.list_entries(None)]


@router.post("/access-lists", status_code=201, response_model=ListEntryOut)
def add_global_entry(body: ListEntryIn, ctx: Ctx, caller: Caller) -> ListEntryOut:
    """Add a hub-wide deny or allow entry."""
    operator_only(caller, _WHAT)
    caller.require(Permission.ACCESS_WRITE)
    return _add(ctx, caller, None, body)


@router.delete("/access-lists/{entry_id}", status_code=204, response_class=Response)
def delete_global_entry(entry_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Remove a hub-wide entry."""
    operator_only(caller, _WHAT)
    caller.require(Permission.ACCESS_WRITE)
    ctx.access.rules.delete_list_entry(None, entry_id, actor(caller))
    return Response(status_code=204)
