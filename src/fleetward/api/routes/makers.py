"""Maker CAs over REST: the operator trusts a maker's CA for a tenant's bootstrap certificates.

The certificate travels as PEM inside JSON and is checked before it is trusted (one
certificate, a CA with keyCertSign, valid now, a strong key: 422 ``maker_ca.*``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetward.access import Permission
from fleetward.api.access_schemas import MakerIn, MakerOut
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import actor, operator_only, tenant_scope

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/maker-cas",
    tags=["maker CAs"],
    responses=errors(401, 403, 404, 422),
)

_WHAT = "maker CAs"


@router.get("", response_model=list[MakerOut])
def list_makers(tenant_id: str, ctx: Ctx, caller: Caller) -> list[MakerOut]:
    """The tenant's maker CAs, revoked ones included."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    operator_only(caller, _WHAT)
    return [MakerOut.of(m) for m in ctx.access.rules.makers(tenant_id)]


@router.post("", status_code=201, response_model=MakerOut, responses=errors(409))
def register_maker(tenant_id: str, body: MakerIn, ctx: Ctx, caller: Caller) -> MakerOut:
    """Trust a maker CA for this tenant's bootstrap certificates."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    operator_only(caller, _WHAT)
    row = ctx.access.rules.register_maker(tenant_id, body.name, body.pem.encode(), actor(caller))
    return MakerOut.of(row)


@router.delete("/{maker_id}", status_code=204, response_class=Response)
def revoke_maker(tenant_id: str, maker_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Stop trusting a maker CA (devices it vouched for that already enrolled stay)."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    operator_only(caller, _WHAT)
    ctx.access.rules.revoke_maker(tenant_id, maker_id, actor(caller))
    return Response(status_code=204)
