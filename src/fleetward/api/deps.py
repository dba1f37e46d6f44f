"""FastAPI dependencies: the services, the authenticated caller, paging bounds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetward.access import Principal
from fleetward.api.context import ApiContext
from fleetward.errors import AuthenticationError

__all__ = ["Caller", "Ctx", "Cursor", "Limit", "PathId"]

_bearer = HTTPBearer(auto_error=False, description="An API key: `fwk_<id>_<secret>`")


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthenticationError("missing, invalid, expired or revoked API key")
    principal = _context(request).api_keys.authenticate(credentials.credentials)
    request.state.key_id = principal.key_id
    request.state.tenant_id = principal.tenant_id  # the audit trail's tenant by default
    return principal


Ctx = Annotated[ApiContext, Depends(_context)]
Caller = Annotated[Principal, Depends(_caller)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (capped by the hub).")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` from the previous page.")
]
PathId = Annotated[str, "an id path segment; unknown ids answer 404"]
