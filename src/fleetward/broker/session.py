"""Messages, subscription options and sessions: the broker's per-client state.

A :class:`Session` outlives its connection when the client asked for that (clean
start 0 / session expiry > 0): it keeps the subscriptions, the QoS 1/2 messages in
flight and a bounded queue of messages that arrived while the client was away or had
no send quota left (MQTT-4.1.0-1, MQTT 5 §4.1).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetward.access.mqtt_hooks import Identity
from fleetward.mqtt import EMPTY_PROPERTIES, Properties, Will

if TYPE_CHECKING:
    from fleetward.broker.protocol import MqttProtocol

__all__ = ["Delivery", "Message", "Session", "SubOptions"]


class Message:
    """One application message as the broker routes it (payload shared, never copied)."""

    __slots__ = (
        "expires_at",
        "origin",
        "payload",
        "properties",
        "qos",
        "retain",
        "topic",
    )

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties = EMPTY_PROPERTIES,
        *,
        origin: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.origin = origin
        self.expires_at = expires_at

    def expired(self, now: float) -> bool:
        """Whether the Message Expiry Interval has passed (MQTT-3.3.2-5)."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class SubOptions:
    """One subscription of one session (MQTT 5 §3.8.3.1)."""

    topic_filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    subscription_id: int | None = None
    group: str | None = None


class Delivery:
    """A message on its way to one session, with the options it is sent with."""

    __slots__ = ("message", "packet_id", "qos", "released", "retain", "seq", "sub_ids")

    def __init__(self, message: Message, qos: int, retain: bool, sub_ids: tuple[int, ...]) -> None:
        self.message = message
        self.qos = qos
        self.retain = retain
        self.sub_ids = sub_ids
        self.packet_id = 0
        self.released = False  # QoS 2: PUBREC received, PUBREL sent
        self.seq = 0  # position in the durable journal; 0 = not journaled


class Session:
    """Everything the broker keeps about one client id."""

    __slots__ = (
        "_next_pid",
        "authz_cache",
        "authz_generation",
        "client_id",
        "conn",
        "dropped",
        "expiry_handle",
        "expiry_interval",
        "identity",
        "incoming_qos2",
        "inflight",
        "queue",
        "resend",
        "subscriptions",
        "will",
        "will_handle",
    )

    def __init__(self, client_id: str, identity: Identity) -> None:
        self.client_id = client_id
        self.identity = identity
        self.conn: MqttProtocol | None = None
        self.subscriptions: dict[str, SubOptions] = {}
        self.inflight: dict[int, Delivery] = {}
        # Allocated on first use: most sessions are idle, and an empty deque is 624 bytes.
        self.queue: deque[Delivery] | None = None
        # packet ids in flight from an earlier connection, still to be re-sent, in order
        self.resend: deque[int] | None = None
        self.incoming_qos2: set[int] | None = None
        self.expiry_interval = 0
        self.expiry_handle: asyncio.TimerHandle | None = None
        self.will: Will | None = None
        self.will_handle: asyncio.TimerHandle | None = None
        self.dropped = 0
        self.authz_cache: dict[str, bool] | None = None
        self.authz_generation = -1
        self._next_pid = 0

    def hold(self, delivery: Delivery) -> None:
        """Queue ``delivery`` behind the ones already waiting."""
        if self.queue is None:
            self.queue = deque()
        self.queue.append(delivery)

    def queued(self) -> int:
        """How many deliveries wait in the queue."""
        return len(self.queue) if self.queue else 0

    def qos2_received(self, packet_id: int) -> bool:
        """Whether a QoS 2 PUBLISH with ``packet_id`` awaits its PUBREL."""
        return self.incoming_qos2 is not None and packet_id in self.incoming_qos2

    def qos2_remember(self, packet_id: int) -> None:
        """Note a QoS 2 PUBLISH acknowledged with PUBREC (MQTT-4.3.3-9)."""
        if self.incoming_qos2 is None:
            self.incoming_qos2 = set()
        self.incoming_qos2.add(packet_id)

    def qos2_forget(self, packet_id: int) -> bool:
        """Drop ``packet_id`` after PUBREL; whether it was known."""
        if self.incoming_qos2 is None or packet_id not in self.incoming_qos2:
            return False
        self.incoming_qos2.discard(packet_id)
        return True

    def next_packet_id(self) -> int:
        """A packet id not in use by a message in flight (MQTT-2.2.1-3)."""
        for _ in range(65535):
            self._next_pid = self._next_pid % 65535 + 1
            if self._next_pid not in self.inflight:
                return self._next_pid
        raise RuntimeError("no free packet identifier")  # bounded by max_inflight first

    def cancel_timers(self) -> None:
        """Stop the expiry and will-delay timers."""
        for handle in (self.expiry_handle, self.will_handle):
            if handle is not None:
                handle.cancel()
        self.expiry_handle = self.will_handle = None
