"""Tokens over REST: app tokens, attenuation, revocation and the public JWK Set.

An app token covers only devices the caller can see (each pattern names one device;
``devices/+/…`` and ``$fleet/#`` are refused with 422). Attenuation needs no API key:
the parent token is the credential, and the child can only be narrower and shorter-lived
(``token.escalation`` otherwise), in the spirit of OAuth token exchange (RFC 8693).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from fleetward.access import Permission
from fleetward.api.access_schemas import AppTokenIn, AttenuateIn, JwkSet, TokenOut, TokenRevoked
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import actor, patterns_in_scope, tenant_scope, ttl

router = APIRouter(prefix="/v1", tags=["tokens"])

Jti = Annotated[str, Path(min_length=1, max_length=64)]


@router.post(
    "/tenants/{tenant_id}/tokens",
    status_code=201,
    response_model=TokenOut,
    responses=errors(401, 403, 404, 422),
)
def mint_app_token(tenant_id: str, body: AppTokenIn, ctx: Ctx, caller: Caller) -> TokenOut:
    """A token for an app (a dashboard, a phone) over the caller's own devices."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    with patterns_in_scope():
        issued = ctx.access.rules.mint_app_token(
            scope,
            body.sub,
            actor(caller),
            publish=tuple(body.publish),
            subscribe=tuple(body.subscribe),
            ttl=ttl(body.ttl_seconds),
        )
    return TokenOut.of(issued)


@router.post(
    "/tokens/attenuate", status_code=201, response_model=TokenOut, responses=errors(401, 403, 422)
)
def attenuate_token(body: AttenuateIn, ctx: Ctx) -> TokenOut:
    """A narrower, shorter-lived token from the one in the body (no API key needed).

    A revoked, expired or forged parent answers 401; any widening answers 403
    ``token.escalation``.
    """
    issued = ctx.access.rules.attenuate(
        body.token,
        "token-bearer",
        publish=tuple(body.publish),
        subscribe=tuple(body.subscribe),
        ttl=ttl(body.ttl_seconds),
        sub=body.sub,
    )
    return TokenOut.of(issued)


@router.post(
    "/tenants/{tenant_id}/tokens/{jti}/revoke",
    response_model=TokenRevoked,
    responses=errors(401, 403, 404, 422),
)
def revoke_token(tenant_id: str, jti: Jti, ctx: Ctx, caller: Caller) -> TokenRevoked:
    """Revoke a token and every token attenuated from it; live sessions end at once."""
    tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    fresh = ctx.access.devices.revoke_token(tenant_id, jti, actor(caller))
    return TokenRevoked(jti=jti, revoked=True, already=not fresh)


@router.get("/jwks", response_model=JwkSet)
def jwks(ctx: Ctx) -> JwkSet:
    """The public keys that verify the hub's tokens (RFC 7517); needs no key."""
    return JwkSet.model_validate(ctx.access.issuer.jwks())
