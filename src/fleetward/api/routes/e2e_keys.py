"""``/v1/tenants/{tenant_id}/e2e-keys``: the E2E key directory for apps.

Apps publish their public key here (devices do it over MQTT, ``$fleet/keys/{id}/put``)
and fetch the signed entries they seal to or accept senders from, with the hub's verify
keys. An owner key publishes and reads only its own owner's keys; another owner's
answers 404. Clients verify every entry (``fleetward.e2e.TrustedKeys``): the hub signs,
never holds a private key.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from fleetward.access import Permission
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.e2e import KeyOwner, OwnerKind
from fleetward.errors import InvalidInputError, UnavailableError
from fleetward.keydir import KeyDirectoryService, entries_json

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/e2e-keys",
    tags=["e2e keys"],
    responses=errors(401, 403, 404, 422, 503),
)


class AppKeyIn(BaseModel):
    """An app's X25519 public key (32 bytes, base64)."""

    app_id: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    public_key_b64: str = Field(min_length=40, max_length=64, pattern=r"^[A-Za-z0-9+/]+=*$")
    owner_id: str | None = Field(default=None, max_length=36)
    """Whose app it is: required for an operator, implied by an owner's key."""


class DirectoryOut(BaseModel):
    """Signed entries (base64, ``docs/e2e-format.md``) and the keys that verify them."""

    entries: list[str]
    hub_keys: dict[str, dict[str, str]]


def _directory(ctx: Ctx) -> KeyDirectoryService:
    if ctx.keydir is None:
        raise UnavailableError("the key directory is not available", code="e2e.disabled")
    return ctx.keydir


def _out(directory: KeyDirectoryService, entries: list[bytes]) -> DirectoryOut:
    hub_keys = {kid: key.jwk() for kid, key in directory.verify_keys().items()}
    return DirectoryOut(entries=entries_json(entries), hub_keys=hub_keys)


@router.post("", status_code=201, response_model=DirectoryOut, responses=errors(409))
def publish_app_key(tenant_id: str, body: AppKeyIn, ctx: Ctx, caller: Caller) -> DirectoryOut:
    """Publish an app's public key; its older keys stay valid for the overlap."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_WRITE)
    owner_id = scope.owner_id or body.owner_id
    if owner_id is None:
        raise InvalidInputError("owner_id: required for an operator", code="e2e.owner_required")
    owner = ctx.registry.get_owner(scope, owner_id)  # 404 for anyone else's owner
    try:
        public_key = base64.b64decode(body.public_key_b64, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise InvalidInputError("public_key_b64: not base64", code="e2e.key_invalid") from None
    directory = _directory(ctx)
    holder = KeyOwner(owner.tenant_id, OwnerKind.APP, body.app_id)
    changed = directory.publish(holder, owner.id, public_key)
    return _out(directory, [s.to_bytes() for s in changed])


@router.get("", response_model=DirectoryOut)
def list_keys(
    tenant_id: str,
    ctx: Ctx,
    caller: Caller,
    owner: Annotated[str | None, Query(max_length=36)] = None,
) -> DirectoryOut:
    """Signed entries of the tenant's (or one owner's) devices and apps."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    owner_id = owner or scope.owner_id
    if owner_id is not None:
        owner_id = ctx.registry.get_owner(scope, owner_id).id  # 404 for another owner
    directory = _directory(ctx)
    return _out(directory, directory.entries(scope.tenant_id, owner_id=owner_id))
