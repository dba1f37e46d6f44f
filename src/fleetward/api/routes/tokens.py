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
from fleetward.access.tokens import MAX_CHAIN_DEPTH
from fleetward.api.access_schemas import AppTokenIn, AttenuateIn, JwkSet, TokenOut, TokenRevoked
from fleetward.api.context import ApiContext
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import (
    actor,
    owner_footprint,
    patterns_in_scope,
    tenant_scope,
    ttl,
)
from fleetward.audit import AuditEntry, SqlAuditStore
from fleetward.errors import NotFoundError
from fleetward.registry import Scope

router = APIRouter(prefix="/v1", tags=["tokens"])

_SCAN = 10_000  # the tenant's newest audit entries searched for a token's minting

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
    """Revoke a token and every token attenuated from it; live sessions end at once.

    The operator may revoke any ``jti``. An owner key may revoke only a token the audit
    log shows was minted for it (by one of its keys, for one of its devices, or
    attenuated from such a token); any other ``jti`` answers 404 ``token.not_found``.
    """
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    if not caller.is_operator and not _minted_for(ctx, scope, jti):
        raise NotFoundError(f"no token {jti}", code="token.not_found")
    fresh = ctx.access.devices.revoke_token(tenant_id, jti, actor(caller))
    return TokenRevoked(jti=jti, revoked=True, already=not fresh)


def _minted_for(ctx: ApiContext, scope: Scope, jti: str) -> bool:
    """Whether the audit log shows ``jti`` was minted for the owner of ``scope``."""
    ctx.audit.flush()
    minted: dict[str, AuditEntry] = {}
    for e in SqlAuditStore(ctx.store.engine).tail(_SCAN, tenant_id=scope.tenant_id):
        made = e.details.get("jti")
        if e.action in ("token.minted", "token.attenuated") and isinstance(made, str):
            minted[made] = e
    targets, actors = owner_footprint(ctx, scope)
    current: str = jti
    for _ in range(MAX_CHAIN_DEPTH + 1):
        entry = minted.get(current)
        if entry is None:
            return False
        if entry.actor in actors or entry.target in targets:
            return True
        parent = entry.details.get("parent")
        if entry.action != "token.attenuated" or not isinstance(parent, str):
            return False
        current = parent
    return False


@router.get("/jwks", response_model=JwkSet)
def jwks(ctx: Ctx) -> JwkSet:
    """The public keys that verify the hub's tokens (RFC 7517); needs no key."""
    return JwkSet.model_validate(ctx.access.issuer.jwks())
