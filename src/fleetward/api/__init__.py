"""The REST edge (FastAPI, ``/v1``, OpenAPI, problem+json errors)."""

from fleetward.api.app import create_app
from fleetward.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
