"""ASGI middleware: bounded request bodies and request metrics.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so the body bound is enforced while
the body streams in, before anything is buffered.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetward.api.problems import problem_response

__all__ = ["BodyLimit", "BodyTooLargeError", "HttpMetrics", "RequestMetrics"]


class HttpMetrics:
    """The REST edge's Prometheus collectors, in their own registry."""

    __slots__ = ("duration", "registry", "requests")

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fleetward_http_requests_total",
            "REST requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "fleetward_http_request_duration_seconds",
            "REST request latency, by route template.",
            ["method", "route"],
            registry=self.registry,
        )


class BodyTooLargeError(Exception):
    """The streamed body passed the bound (answered 413 by :class:`BodyLimit`)."""


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError
            return message

        try:
            await self.app(scope, bounded_receive, send)
        except BodyTooLargeError:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "http.body_too_large",
            "Request body too large",
            f"the body exceeds {self.max_bytes} bytes",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


class RequestMetrics:
    """Count and time every request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.duration.labels(method, template).observe(time.perf_counter() - start)
