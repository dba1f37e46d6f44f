"""One exception tree for the whole hub.

Every failure a caller can see is a :class:`FleetwardError` carrying a stable dotted
``code`` (what clients and tests match on), the HTTP status the REST edge answers with
and the MQTT reason code the broker edge answers with. Each edge (REST, MQTT, CLI) has
exactly one mapper from this tree to its wire format, so a rule such as "another
tenant's resource is *not found*, never *forbidden*" is decided once, here.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "BannedError",
    "ConfigError",
    "ConflictError",
    "FleetwardError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "RateLimitedError",
    "ReasonCode",
    "StorageError",
    "UnavailableError",
]


class ReasonCode:
    """MQTT 5.0 reason codes used by the error tree (MQTT 5.0 §2.4, table 2-6)."""

    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    TOPIC_NAME_INVALID = 0x90
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    PAYLOAD_FORMAT_INVALID = 0x99
    CONNECTION_RATE_EXCEEDED = 0x9F


class FleetwardError(Exception):
    """Root of every error Fleetward raises on purpose.

    ``detail`` is safe to show to the caller: it never contains secrets. Subclasses fix
    ``http_status`` and ``mqtt_reason``; instances choose a precise ``code``.
    """

    code: str = "fleetward.error"
    http_status: ClassVar[int] = 500
    mqtt_reason: ClassVar[int] = ReasonCode.UNSPECIFIED_ERROR
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class ConfigError(FleetwardError):
    """The configuration is unusable; raised at start-up, before anything listens."""

    code = "config.invalid"
    title = "Invalid configuration"


class InvalidInputError(FleetwardError):
    """The caller sent something well-formed but unacceptable."""

    code = "input.invalid"
    http_status = 422
    mqtt_reason = ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    title = "Invalid input"


class AuthenticationError(FleetwardError):
    """Missing, malformed, expired or revoked credentials.

    The detail is deliberately generic so that a caller cannot tell an unknown key from a
    revoked one.
    """

    code = "access.unauthenticated"
    http_status = 401
    mqtt_reason = ReasonCode.BAD_USER_NAME_OR_PASSWORD
    title = "Unauthenticated"


class ForbiddenError(FleetwardError):
    """An authenticated caller asked for an act its own grants do not allow.

    Only used where the resource is the caller's own (or global); a resource that belongs
    to another tenant or owner raises :class:`NotFoundError` instead.
    """

    code = "access.forbidden"
    http_status = 403
    mqtt_reason = ReasonCode.NOT_AUTHORIZED
    title = "Forbidden"


class NotFoundError(FleetwardError):
    """No such resource *for this caller*."""

    code = "resource.not_found"
    http_status = 404
    mqtt_reason = ReasonCode.NOT_AUTHORIZED
    title = "Not found"


class ConflictError(FleetwardError):
    """The request clashes with the current state (duplicate name, wrong status)."""

    code = "resource.conflict"
    http_status = 409
    mqtt_reason = ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    title = "Conflict"


class StorageError(FleetwardError):
    """The database failed in a way the caller cannot fix."""

    code = "storage.failed"
    http_status = 503
    mqtt_reason = ReasonCode.SERVER_UNAVAILABLE
    title = "Storage unavailable"


class UnavailableError(FleetwardError):
    """A dependency the hub needs is not ready."""

    code = "hub.unavailable"
    http_status = 503
    mqtt_reason = ReasonCode.SERVER_UNAVAILABLE
    title = "Unavailable"


class BannedError(ForbiddenError):
    """A deny list, an allow list gate or a flapping ban refuses this client."""

    code = "access.banned"
    mqtt_reason = ReasonCode.BANNED
    title = "Banned"


class RateLimitedError(FleetwardError):
    """Too many requests or connects; try again later."""

    code = "access.rate_limited"
    http_status = 429
    mqtt_reason = ReasonCode.CONNECTION_RATE_EXCEEDED
    title = "Too many requests"
