"""``/v1/apikeys`` and ``/v1/me``: mint, list and revoke API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from fleetward.api.deps import Caller, Ctx, Cursor, Limit
from fleetward.api.openapi import errors
from fleetward.api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, Me, PageOut

router = APIRouter(prefix="/v1", tags=["api keys"], responses=errors(401, 403, 422))


@router.get("/me", response_model=Me)
def me(caller: Caller) -> Me:
    """Who the hub thinks the caller is."""
    return Me(
        key_id=caller.key_id,
        role=caller.role,
        tenant_id=caller.tenant_id,
        owner_id=caller.owner_id,
        scopes=sorted(caller.scopes),
    )


@router.get("/apikeys", response_model=PageOut[ApiKeyOut], responses=errors(404))
def list_keys(
    ctx: Ctx,
    caller: Caller,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageOut[ApiKeyOut]:
    """The caller's own keys; the operator may name a tenant to see its keys."""
    page = ctx.api_keys.list(
        caller, tenant_id=tenant_id, limit=min(limit, ctx.max_page_size), cursor=cursor
    )
    return PageOut(items=[ApiKeyOut.of(k) for k in page.items], next_cursor=page.next_cursor)


@router.post("/apikeys", status_code=201, response_model=ApiKeyCreated, responses=errors(404, 409))
def create_key(body: ApiKeyIn, ctx: Ctx, caller: Caller) -> ApiKeyCreated:
    """Mint a key no wider than the caller's; the token is returned only here."""
    key, token = ctx.api_keys.create(
        caller,
        name=body.name,
        role=body.role,
        tenant_id=body.tenant_id,
        owner_id=body.owner_id,
        scopes=[s.value for s in body.scopes] if body.scopes is not None else None,
        ttl=dt.timedelta(days=body.expires_in_days),
    )
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), token=token)


@router.delete("/apikeys/{key_id}", status_code=204, response_class=Response, responses=errors(404))
def revoke_key(key_id: str, ctx: Ctx, caller: Caller) -> Response:
    """Revoke a key; the next request made with it is refused."""
    ctx.api_keys.revoke(caller, key_id)
    return Response(status_code=204)
