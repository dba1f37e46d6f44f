"""Hub events: what happened on the data plane, as typed records on an in-process bus.

The embedded broker emits them; presence, audit, anomaly detection and swarm failover
consume them. An external broker's webhooks will be translated into the same types, so
consumers never know which data plane is in use. Handlers run synchronously on the
publisher's thread and must be quick; a handler that raises is logged and skipped, it
never breaks the broker.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "AuthRefused",
    "ClientConnected",
    "ClientDisconnected",
    "EventBus",
    "HubEvent",
    "PublishAccepted",
    "SubscribeRefused",
]

log = logging.getLogger("fleetward.events")


@dataclass(frozen=True, slots=True)
class ClientConnected:
    """A client completed CONNECT and was accepted."""

    at: dt.datetime
    client_id: str
    identity: str | None
    tenant_id: str | None
    listener: str
    protocol_version: int
    peer: str
    tls_version: str | None
    cert_serial: str | None
    clean_start: bool
    keepalive: int


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    """A client's connection ended; ``reason`` says how (``client``, ``keepalive``, …)."""

    at: dt.datetime
    client_id: str
    identity: str | None
    tenant_id: str | None
    listener: str
    reason: str
    reason_code: int | None
    will_pending: bool


@dataclass(frozen=True, slots=True)
class PublishAccepted:
    """A PUBLISH passed validation and authorization and was routed."""

    at: dt.datetime
    client_id: str
    identity: str | None
    tenant_id: str | None
    topic: str
    qos: int
    retain: bool
    payload_size: int


@dataclass(frozen=True, slots=True)
class AuthRefused:
    """A CONNECT was refused (bad credentials, banned, not authorized)."""

    at: dt.datetime
    client_id: str
    username: str | None
    listener: str
    peer: str
    reason_code: int
    reason: str


@dataclass(frozen=True, slots=True)
class SubscribeRefused:
    """A SUBSCRIBE filter was refused by policy or validation."""

    at: dt.datetime
    client_id: str
    identity: str | None
    tenant_id: str | None
    topic_filter: str
    reason_code: int


HubEvent = ClientConnected | ClientDisconnected | PublishAccepted | AuthRefused | SubscribeRefused
E = TypeVar("E", bound=HubEvent)


class EventBus:
    """Synchronous fan-out of hub events to handlers registered per event type."""

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        # copy on write: subscribing is rare, publishing is on the hot path and iterates
        # the tuple it finds without copying it (a handler may unsubscribe meanwhile)
        self._handlers: dict[type[HubEvent], tuple[Callable[[HubEvent], None], ...]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every event of ``kind``; returns an unsubscribe function."""
        wrapped: Callable[[HubEvent], None] = handler  # type: ignore[assignment]
        key: type[HubEvent] = kind  # type: ignore[assignment]
        self._handlers[key] = (*self._handlers.get(key, ()), wrapped)

        def unsubscribe() -> None:
            current = self._handlers.get(key, ())
            if wrapped in current:
                rest = list(current)
                rest.remove(wrapped)
                self._handlers[key] = tuple(rest)

        return unsubscribe

    def wants(self, kind: type[HubEvent]) -> bool:
        """Whether anyone listens for ``kind`` (lets hot paths skip building events)."""
        return bool(self._handlers.get(kind))

    def publish(self, event: HubEvent) -> None:
        """Deliver ``event`` to its handlers, isolating their failures."""
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s", type(event).__name__)
