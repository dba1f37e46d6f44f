"""Device identity over REST: enrolment codes, credentials, device tokens, revocation.

``access:write`` creates codes and tokens and revokes; ``access:read`` lists
credentials. Another tenant's or owner's device answers 404. The services return only
once live sessions reflect a revocation (they run on the serving hub's threadpool).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter

from fleetward.access import Permission
from fleetward.access.devices import CODE_TTL
from fleetward.api.access_schemas import (
    CredentialOut,
    DeviceTokenIn,
    EnrollmentCodeIn,
    EnrollmentCodeOut,
    TokenOut,
)
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import actor, tenant_scope, ttl
from fleetward.api.schemas import DeviceOut

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/devices/{device_id}",
    tags=["device identity"],
    responses=errors(401, 403, 404, 422),
)


@router.post(
    "/enrollment-codes", status_code=201, response_model=EnrollmentCodeOut, responses=errors(409)
)
def create_enrollment_code(
    tenant_id: str, device_id: str, body: EnrollmentCodeIn, ctx: Ctx, caller: Caller
) -> EnrollmentCodeOut:
    """A one-time enrolment code for a pending device, shown only in this answer.

    An owner's own ``code`` must pass the strength check (``secret.*``); a device that
    is not pending answers 409 ``enrollment.not_pending``.
    """
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    code = ctx.access.devices.create_enrollment_code(
        scope,
        device_id,
        actor(caller),
        code=body.code,
        ttl=CODE_TTL if body.ttl_seconds is None else dt.timedelta(seconds=body.ttl_seconds),
    )
    return EnrollmentCodeOut(
        credential_id=code.credential_id,
        device_id=code.device_id,
        code=code.code,
        expires_at=code.expires_at,
    )


@router.post("/revoke", response_model=DeviceOut, responses=errors(409))
def revoke_device(tenant_id: str, device_id: str, ctx: Ctx, caller: Caller) -> DeviceOut:
    """Revoke a device for good: its status, every credential and every live session."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    ctx.access.devices.revoke_device(scope, device_id, actor(caller))
    return DeviceOut.of(ctx.registry.get_device(scope, device_id))


@router.get("/credentials", response_model=list[CredentialOut])
def list_credentials(
    tenant_id: str, device_id: str, ctx: Ctx, caller: Caller
) -> list[CredentialOut]:
    """A device's credentials: kinds, fingerprints, expiry, revocation (never a hash)."""
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_READ)
    return [CredentialOut.of(c) for c in ctx.access.devices.credentials(scope, device_id)]


@router.post(
    "/credentials/{credential_id}/revoke", response_model=CredentialOut, responses=errors(409)
)
def revoke_credential(
    tenant_id: str, device_id: str, credential_id: str, ctx: Ctx, caller: Caller
) -> CredentialOut:
    """Revoke one credential (a certificate, a code); sessions using it end at once.

    A credential that is unknown or no longer live answers 409 ``credential.not_live``.
    """
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    ctx.access.devices.revoke_certificate(scope, device_id, credential_id, actor(caller))
    (cred,) = [c for c in ctx.access.devices.credentials(scope, device_id) if c.id == credential_id]
    return CredentialOut.of(cred)


@router.post("/tokens", status_code=201, response_model=TokenOut)
def mint_device_token(
    tenant_id: str, device_id: str, body: DeviceTokenIn, ctx: Ctx, caller: Caller
) -> TokenOut:
    """A short-lived token for an active device (for devices without mTLS).

    A device that is not active answers 403 ``device.not_active``.
    """
    scope = tenant_scope(ctx, caller, tenant_id, Permission.ACCESS_WRITE)
    issued = ctx.access.devices.issue_device_token(
        scope, device_id, actor(caller), ttl(body.ttl_seconds)
    )
    return TokenOut.of(issued)
