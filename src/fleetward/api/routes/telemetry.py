"""Telemetry history and an owner's export bundle; an owner key sees only its own.

Reading history needs ``devices:read``; the export needs ``owners:read`` (an operator,
or the owner's own key). Another tenant's or owner's device or owner answers 404.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fleetward.access import Permission
from fleetward.api.audit_trail import AUDIT_READ
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.dataexport import OwnerData
from fleetward.errors import UnavailableError
from fleetward.history import HistoryService, TelemetryRecord

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", tags=["telemetry"], responses=errors(401, 403, 404, 422, 503)
)


class TelemetryOut(BaseModel):
    """One stored publish. ``sealed``: ``payload_b64`` is still an E2E envelope that only
    the owner's app can open; otherwise it is the payload as the device sent it."""

    id: int
    device_id: str
    stream: str
    received_at: dt.datetime
    expires_at: dt.datetime
    sealed: bool
    payload_b64: str

    @classmethod
    def of(cls, r: TelemetryRecord) -> TelemetryOut:
        """The response body of one record."""
        return cls(
            id=r.id,
            device_id=r.device_id,
            stream=r.stream,
            received_at=r.received_at,
            expires_at=r.expires_at,
            sealed=r.sealed,
            payload_b64=base64.b64encode(r.payload).decode(),
        )


class TelemetryPage(BaseModel):
    """Records oldest first; ask again with ``since`` after the last ``received_at``."""

    items: list[TelemetryOut]


def _history(ctx: Ctx) -> HistoryService:
    if ctx.history is None:
        raise UnavailableError("telemetry history is not available", code="history.disabled")
    return ctx.history


def _owner_data(ctx: Ctx) -> OwnerData:
    if ctx.owner_data is None:
        raise UnavailableError("owner export is not available", code="export.disabled")
    return ctx.owner_data


@router.get("/devices/{device_id}/telemetry", response_model=TelemetryPage)
def device_telemetry(
    tenant_id: str,
    device_id: str,
    ctx: Ctx,
    caller: Caller,
    stream: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TelemetryPage:
    """A device's stored telemetry, decrypted at rest for its owner."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.DEVICES_READ)
    device = ctx.registry.get_device(scope, device_id)  # 404 for anyone else's device
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    records = _history(ctx).query(
        device.tenant_id, device.id, stream=stream, since=since, limit=min(limit, ctx.max_page_size)
    )
    return TelemetryPage(items=[TelemetryOut.of(r) for r in records])


@router.get("/owners/{owner_id}/export", openapi_extra={AUDIT_READ: True})
def export_owner(tenant_id: str, owner_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Everything the hub holds about the owner (``docs/history.md`` describes the bundle)."""
    scope = caller.scope_for(tenant_id)
    caller.require(Permission.OWNERS_READ)
    return _owner_data(ctx).export(scope, owner_id)
