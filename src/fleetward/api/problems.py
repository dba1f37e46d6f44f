"""RFC 9457 problem details: the REST edge's single mapper from errors to responses.

Every error body is ``application/problem+json`` with a stable ``code`` that matches
:class:`fleetward.errors.FleetwardError.code`. Validation failures list each bad field.
Unexpected exceptions are logged with their traceback and answered with an opaque 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetward.errors import AuthenticationError, FleetwardError

__all__ = ["PROBLEM_TYPE", "FieldError", "Problem", "install_problem_handlers", "problem_response"]

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("fleetward.api")

_HTTP_CODES = {
    404: ("resource.not_found", "Not found"),
    405: ("http.method_not_allowed", "Method not allowed"),
    413: ("http.body_too_large", "Request body too large"),
}


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus Fleetward's stable error ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A ``problem+json`` response."""
    body = Problem(
        type=f"urn:fleetward:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=[FieldError.model_validate(e) for e in errors] if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


async def _on_fleetward_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, FleetwardError):  # registered only for this type
        raise TypeError(type(exc).__name__)
    if exc.http_status >= 500:
        log.error("request failed: %s %s -> %s", request.method, request.url.path, exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    return problem_response(
        exc.http_status,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=headers,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered only for this type
        raise TypeError(type(exc).__name__)
    errors = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return problem_response(
        422,
        "input.invalid",
        "Invalid input",
        f"{where}: {first['msg']}" if where else str(first["msg"]),
        instance=request.url.path,
        errors=errors,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered only for this type
        raise TypeError(type(exc).__name__)
    if exc.status_code == 400:  # Starlette's "error parsing the body": malformed input
        return problem_response(
            422,
            "input.malformed_body",
            "Invalid input",
            "the body is not valid UTF-8 JSON",
            instance=request.url.path,
        )
    code, title = _HTTP_CODES.get(exc.status_code, (f"http.{exc.status_code}", "HTTP error"))
    return problem_response(
        exc.status_code,
        code,
        title,
        str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "hub.internal", "Internal error", "unexpected error", instance=request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the problem+json mapper."""
    app.add_exception_handler(FleetwardError, _on_fleetward_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
