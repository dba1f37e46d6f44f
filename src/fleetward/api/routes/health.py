"""``/healthz`` (the process is alive), ``/readyz`` (it can serve), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleetward.api.deps import Ctx
from fleetward.api.openapi import errors
from fleetward.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: answers while the process runs."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=errors(503))
def readyz(ctx: Ctx) -> Health:
    """Readiness: the database answers."""
    ctx.store.ping()
    return Health(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus exposition of the hub's counters."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
