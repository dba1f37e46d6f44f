"""Hub events as audit entries: which data-plane facts are security-relevant, and how.

Each event becomes one entry built field by field, never by dumping the event, so a
field added to an event later cannot carry a secret into the log unnoticed (the
password a client sent is in no event at all). Text that came off the wire (client ids,
user names, topic filters) is clipped and cleaned first: a hostile client must not be
able to make its own refusal unrecordable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from fleetward.audit.chain import Scalar
from fleetward.events import AuthRefused, ClientConnected, EventBus, SubscribeRefused

__all__ = ["Recorder", "subscribe_hub_events"]

_MAX_WIRE_TEXT = 128  # client ids, user names, peer addresses
_MAX_TOPIC_TEXT = 1024


class Recorder(Protocol):
    """Anything with :meth:`fleetward.audit.AuditLog.record`'s signature."""

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        tenant_id: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Scalar] | None = None,
    ) -> None: ...


def subscribe_hub_events(bus: EventBus, record: Recorder) -> list[Callable[[], None]]:
    """Record ``auth.ok``, ``auth.refused`` and ``subscribe.refused``; the unsubscribers."""

    def on_connected(e: ClientConnected) -> None:
        record(
            actor=_mqtt_actor(e.identity),
            action="auth.ok",
            target=_client(e.client_id),
            tenant_id=e.tenant_id,
            details={
                "listener": e.listener,
                "peer": _clip(e.peer, _MAX_WIRE_TEXT),
                "protocol_version": e.protocol_version,
                "tls_version": e.tls_version,
                "cert_serial": e.cert_serial,
                "clean_start": e.clean_start,
            },
        )

    def on_auth_refused(e: AuthRefused) -> None:
        record(
            actor=_mqtt_actor(e.username),
            action="auth.refused",
            target=_client(e.client_id),
            outcome="refused",
            details={
                "listener": e.listener,
                "peer": _clip(e.peer, _MAX_WIRE_TEXT),
                "reason_code": e.reason_code,
                "reason": _clip(e.reason, _MAX_WIRE_TEXT),
            },
        )

    def on_subscribe_refused(e: SubscribeRefused) -> None:
        record(
            actor=_mqtt_actor(e.identity),
            action="subscribe.refused",
            target=_client(e.client_id),
            tenant_id=e.tenant_id,
            outcome="refused",
            details={
                "topic_filter": _clip(e.topic_filter, _MAX_TOPIC_TEXT),
                "reason_code": e.reason_code,
            },
        )

    return [
        bus.subscribe(ClientConnected, on_connected),
        bus.subscribe(AuthRefused, on_auth_refused),
        bus.subscribe(SubscribeRefused, on_subscribe_refused),
    ]


def _clip(text: str, limit: int) -> str:
    """Untrusted text made safe to record: valid Unicode, no NUL, at most ``limit`` chars."""
    if len(text) <= limit and text.isascii() and "\x00" not in text:
        return text  # the usual client id or address: nothing to clean
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _mqtt_actor(name: str | None) -> str:
    return f"mqtt:{_clip(name, _MAX_WIRE_TEXT)}" if name else "mqtt:anonymous"


def _client(client_id: str) -> str | None:
    return f"client:{_clip(client_id, _MAX_WIRE_TEXT)}" if client_id else None
