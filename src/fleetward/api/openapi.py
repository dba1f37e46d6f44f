"""Shared OpenAPI declarations: every error answer is a documented problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fleetward.api.problems import PROBLEM_TYPE, Problem

__all__ = ["errors", "install_openapi"]

_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    401: "No API key, or one that is malformed, expired or revoked.",
    403: "The key lacks a permission this call needs.",
    404: "No such resource for this caller (another tenant's resources are never visible).",
    409: "The change conflicts with the current state.",
    413: "The request body is too large.",
    422: "The request is malformed; `errors` lists each bad field.",
    503: "A dependency of the hub is unavailable.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all problem+json."""
    return {
        s: {"description": _DESCRIPTIONS[s], "content": {PROBLEM_TYPE: {"schema": _REF}}}
        for s in statuses
    }


def install_openapi(app: FastAPI) -> None:
    """Generate the schema once, with the Problem model registered."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in problem.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components["Problem"] = problem
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]
