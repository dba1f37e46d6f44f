"""The FastAPI application: thin routes over the hub's services."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from fleetward import __version__
from fleetward.api.audit_trail import SELF_AUDITED, AuditTrail
from fleetward.api.context import ApiContext
from fleetward.api.middleware import BodyLimit, HttpMetrics, RequestMetrics
from fleetward.api.openapi import install_openapi
from fleetward.api.problems import install_problem_handlers
from fleetward.api.routes import (
    apikeys,
    devices,
    e2e_keys,
    enrollment,
    grants,
    health,
    lists,
    makers,
    owners,
    presence,
    telemetry,
    tenants,
    tokens,
)
from fleetward.api.routes import audit as audit_routes
from fleetward.presence.metrics import PresenceCollector

__all__ = ["create_app"]

_DESCRIPTION = """Fleetward's control plane. Authenticate with `Authorization: Bearer <API key>`.
Every error is `application/problem+json` (RFC 9457) with a stable `code`.
Resources of another tenant or owner answer 404, never 403."""


def create_app(ctx: ApiContext) -> FastAPI:
    """Build the REST app around ``ctx``."""
    app = FastAPI(
        title="Fleetward",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.metrics = HttpMetrics()
    if ctx.presence is not None:
        app.state.metrics.registry.register(PresenceCollector(ctx.presence))
    install_problem_handlers(app)
    for router in (health.router, tenants.router, owners.router, devices.router, apikeys.router):
        app.include_router(router)
    app.include_router(presence.router)
    for router in (enrollment.router, tokens.router, grants.router, lists.router, makers.router):
        _mark_self_audited(router)
    for router in (
        enrollment.router,
        tokens.router,
        grants.router,
        lists.router,
        makers.router,
        audit_routes.router,
    ):
        app.include_router(router)
    app.include_router(telemetry.router)
    app.include_router(e2e_keys.router)
    install_openapi(app)
    app.add_middleware(AuditTrail, audit=ctx.audit)  # innermost: metrics see its 503
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    return app


def _mark_self_audited(router: APIRouter) -> None:
    """The access services record their own acts: the audit trail records only refusals."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.openapi_extra = {**(route.openapi_extra or {}), SELF_AUDITED: True}
