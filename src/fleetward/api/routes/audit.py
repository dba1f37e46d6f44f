"""``GET /v1/audit``: the newest audit entries, for the operator or an owner.

The operator sees every entry (or one tenant's). An owner key sees only what concerns
that owner inside its tenant: acts on its devices, acts by its devices and acts by its
own API keys; other owners' acts stay as invisible as their devices (404 elsewhere).
Entries recorded by this process are flushed first, so an act is visible at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fleetward.access import Permission, Principal
from fleetward.api.context import ApiContext
from fleetward.api.deps import Caller, Ctx
from fleetward.api.openapi import errors
from fleetward.api.routes._access import owner_footprint
from fleetward.audit import AuditEntry, SqlAuditStore

router = APIRouter(prefix="/v1", tags=["audit"], responses=errors(401, 403, 404, 422, 503))


class AuditEntryOut(BaseModel):
    """One audit entry, with its place in the hash chain."""

    seq: int
    at: dt.datetime
    tenant_id: str | None
    actor: str
    action: str
    target: str | None
    outcome: str
    details: dict[str, str | int | bool | None]
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        """From the stored entry."""
        return cls(
            seq=e.seq,
            at=e.at,
            tenant_id=e.tenant_id,
            actor=e.actor,
            action=e.action,
            target=e.target,
            outcome=e.outcome,
            details=dict(e.details),
            hash=e.hash,
        )


_OWNER_SCAN = 10_000  # entries of the tenant an owner's view is cut from


def _visible(
    ctx: ApiContext, caller: Principal, tenant_id: str | None, limit: int
) -> list[AuditEntry]:
    store = SqlAuditStore(ctx.store.engine)
    if caller.is_operator:
        return store.tail(limit, tenant_id=tenant_id)
    scope = caller.scope_for(tenant_id or caller.tenant_id or "")
    targets, actors = owner_footprint(ctx, scope)
    entries = store.tail(_OWNER_SCAN, tenant_id=scope.tenant_id)
    mine = [e for e in entries if e.target in targets or e.actor in actors]
    return mine[-limit:]


@router.get("/audit", response_model=list[AuditEntryOut])
def audit_tail(
    ctx: Ctx,
    caller: Caller,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[AuditEntryOut]:
    """The newest entries, oldest first (another tenant answers 404)."""
    if tenant_id is not None:
        caller.scope_for(tenant_id)
    caller.require(Permission.AUDIT_READ)
    ctx.audit.flush()
    return [AuditEntryOut.of(e) for e in _visible(ctx, caller, tenant_id, limit)]
