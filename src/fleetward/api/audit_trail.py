"""Every state-changing REST request lands in the audit log, recorded in one place.

The rule (ADR 0007, "Operator acts"): a POST, PUT, PATCH or DELETE that reaches a route
is recorded once it is answered, as ``api.<route name>`` by ``apikey:<key id>`` (or
``anonymous`` when no key was accepted), with ``outcome`` ``ok`` (2xx), ``refused`` (4xx)
or ``failed`` (5xx) and the status in ``details``. The target is the created resource's
``id`` for a 201, else the last path parameter; the path parameters go in ``details``;
the tenant is the path's, else the calling key's.
Bodies are never read into the log: they can carry secrets (a minted key's token).
Reads are not acts, except routes marked with :data:`AUDIT_READ` (an owner's export).

Routes marked :data:`SELF_AUDITED` (the access services, which record each act with
richer details through ``rt.audit``) are recorded here only when they refuse or fail, so
every outcome is recorded exactly once.

The record is queued before the response starts. If it cannot be (log closed or
backlogged), the client gets a 503 instead of the route's answer: no act is confirmed
that the log did not take.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetward.api.middleware import BodyTooLargeError
from fleetward.api.problems import problem_response
from fleetward.audit import AuditLog
from fleetward.errors import FleetwardError

__all__ = ["AUDIT_READ", "SELF_AUDITED", "AuditTrail"]

AUDIT_READ = "x-fleetward-audit-read"
"""``openapi_extra`` key: record this GET too (it discloses data worth tracing)."""
SELF_AUDITED = "x-fleetward-self-audited"
"""``openapi_extra`` key: the service behind this route records its successful acts."""

log = logging.getLogger("fleetward.api.audit")

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_ID = 64


def _clean(value: object) -> str:
    """A path value as logged: printable and bounded (a path is the caller's text)."""
    return "".join(c if c.isprintable() else "?" for c in str(value))[:_MAX_ID]


def _is_act(scope: Scope, route: Any) -> bool:
    """A routed request that changes state, or a read marked :data:`AUDIT_READ`."""
    if route is None:
        return False
    extra: dict[str, Any] = getattr(route, "openapi_extra", None) or {}
    return scope["method"] in _MUTATING or bool(extra.get(AUDIT_READ))


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "refused" if status < 500 else "failed"


class AuditTrail:
    """ASGI middleware recording each state-changing request (see the module docstring)."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        held: list[Message] = []
        done = False

        async def audited_send(message: Message) -> None:
            nonlocal done
            if done:
                await send(message)
                return
            route = scope.get("route")
            extra: dict[str, Any] = getattr(route, "openapi_extra", None) or {}
            if not _is_act(scope, route):
                done = True
                await send(message)
                return
            held.append(message)
            status = int(held[0]["status"])
            if status == 201 and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the created id is in the body: wait for all of it
            elif message["type"] == "http.response.start" and status == 201:
                return
            done = True
            if 200 <= status < 300 and extra.get(SELF_AUDITED):
                await self._flush(held, send)
                return
            try:
                self._record(scope, state, route, status, held)
            except FleetwardError:
                await problem_response(
                    503,
                    "audit.unavailable",
                    "Audit log unavailable",
                    "the act could not be recorded; its outcome is unconfirmed",
                    instance=scope.get("path"),
                )(scope, receive, send)
                return
            await self._flush(held, send)

        try:
            await self.app(scope, receive, audited_send)
        except Exception as e:  # answered by BodyLimit (413) or ServerErrorMiddleware (500)
            route = scope.get("route")
            if not done and _is_act(scope, route):
                status = 413 if isinstance(e, BodyTooLargeError) else 500
                try:
                    self._record(scope, state, route, status, [])
                except FleetwardError:
                    log.exception("could not record a failed request in the audit log")
            raise

    @staticmethod
    async def _flush(held: list[Message], send: Send) -> None:
        for m in held:
            await send(m)

    def _record(
        self, scope: Scope, state: dict[str, Any], route: Any, status: int, held: list[Message]
    ) -> None:
        params = {k: _clean(v) for k, v in (scope.get("path_params") or {}).items()}
        target = next(reversed(params.values()), None) if params else None
        if status == 201:
            body = b"".join(m.get("body", b"") for m in held[1:])
            try:
                created = json.loads(body).get("id")
            except (ValueError, AttributeError):
                created = None
            if isinstance(created, str):
                target = _clean(created)
        key_id = state.get("key_id")
        tenant = params.get("tenant_id") or state.get("tenant_id")
        self.audit.record(
            actor=f"apikey:{key_id}" if key_id else "anonymous",
            action=f"api.{route.name}",
            target=target,
            tenant_id=tenant if tenant and len(tenant) <= 36 else None,
            outcome=_outcome(status),
            details={"method": scope["method"], "status": status, **params},
        )
