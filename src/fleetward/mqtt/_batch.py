"""Runs of packets in one call, and fixed answers: the broker's hot paths on
:class:`ServerConnection`.

A socket read usually holds hundreds of PUBLISH packets in a row; handing them over as
one list, with the same checks :meth:`ServerConnection.next_packet` makes, skips the
per-packet state-table lookups, and their PUBACKs go out as one buffer. A 3.1.1
CONNACK (no properties) is four fixed bytes from a table. Kept apart from
``connection.py`` so each module stays small; the mixin works on the connection's state
through :class:`_State`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol, cast

from fleetward.mqtt.codec import PUBLISH_HEADS, publish_prefix
from fleetward.mqtt.constants import MQTT_3_1_1, MQTT_5_0
from fleetward.mqtt.errors import RemoteProtocolError
from fleetward.mqtt.packets import Connack, Packet, Puback, Publish
from fleetward.mqtt.properties import EMPTY_PROPERTIES, Properties
from fleetward.mqtt.states import ConnectionState

if TYPE_CHECKING:
    from fleetward.mqtt.codec import Decoder
    from fleetward.mqtt.limits import ClientLimits

__all__ = ["PublishRuns"]

_BYTE: Final = tuple(bytes((i,)) for i in range(256))
_PUBACK: Final = tuple(bytes((0x40, 2, i)) for i in range(256))
"""A PUBACK's fixed header and the high byte of its packet id, by that byte."""
_CONNACK_V311: Final = (b"\x20\x02\x00\x00", b"\x20\x02\x01\x00")
"""A successful 3.1.1 CONNACK, by Session Present (MQTT-3.2.2-1..3)."""


class _State(Protocol):
    """What the mixin uses of :class:`~fleetward.mqtt.connection.ServerConnection`."""

    _queue: list[Packet] | tuple[()]
    _head: int
    _state: ConnectionState
    _decoder: Decoder
    _inbound: set[int] | frozenset[int]
    _outbound: set[int] | frozenset[int]
    _connack_sent: bool
    client_limits: ClientLimits

    @property
    def send_quota(self) -> int: ...

    def _receive_publish(self, packet: Publish) -> None: ...

    def _drop_queue(self) -> None: ...

    def send(self, packet: Packet) -> bytes: ...


class PublishRuns:
    """Mixin of :class:`~fleetward.mqtt.connection.ServerConnection`; see the module."""

    __slots__ = ()
    # assigned below, declared (and slotted) by ServerConnection
    _queue: list[Packet] | tuple[()]
    _head: int
    _state: ConnectionState
    _outbound: set[int] | frozenset[int]
    _connack_sent: bool

    def send_connack(self: _State, session_present: bool, properties: Properties) -> bytes:
        """Accept the CONNECT: ``send(Connack(session_present, properties=properties))``.

        The 3.1.1 answer (no properties, nothing the client's limits could refuse) comes
        from a table with the same state change ``send`` makes (AUTHENTICATING to
        CONNECTED, MQTT-3.2.0-1/2); every other case goes through ``send``.
        """
        if (
            self._state is not ConnectionState.AUTHENTICATING
            or self._decoder.version != MQTT_3_1_1
            or properties is not EMPTY_PROPERTIES
            or self.client_limits.maximum_packet_size is not None
        ):
            return self.send(Connack(session_present=session_present, properties=properties))
        self._connack_sent = True
        self._state = ConnectionState.CONNECTED
        return _CONNACK_V311[session_present]

    def next_publishes(self: _State) -> list[Publish]:
        """The run of PUBLISH packets at the head of the queue, checked, in one call.

        Empty when the next packet is not a PUBLISH or the connection is not CONNECTED
        (a PUBLISH never changes that state): use ``next_packet`` then. A PUBLISH that
        breaks a rule ends the run; the next call raises for it, after the broker has
        acted on the ones before it, as packet by packet.
        """
        queue, head = self._queue, self._head
        if self._state is not ConnectionState.CONNECTED or head >= len(queue):
            return []
        end = head
        receive = self._receive_publish
        v5 = self._decoder.version == MQTT_5_0
        try:
            for packet in queue[head:] if head else queue:
                if type(packet) is not Publish:
                    break
                if v5 or packet.qos:  # a 3.1.1 QoS 0 PUBLISH has nothing more to check
                    receive(packet)  # checks come before any change: a re-check is the same
                end += 1
        except RemoteProtocolError:
            if end == head:
                self._state = ConnectionState.CLOSED
                self._drop_queue()
                raise
        if head == 0 and end == len(queue):  # the usual case: the whole read, no copy
            self._queue = ()  # the shared empty queue of an idle connection
            return cast(list[Publish], queue)
        self._head = end
        return cast(list[Publish], queue[head:end])

    def next_pubacks(self: _State) -> list[Puback]:
        """The run of PUBACK packets at the head of the queue, in one call (see above).

        A PUBACK is legal whenever CONNECTED and frees its packet id's send-quota slot.
        """
        queue, head = self._queue, self._head
        if self._state is not ConnectionState.CONNECTED or head >= len(queue):
            return []
        end = head
        outbound = self._outbound
        for packet in queue[head:] if head else queue:
            if type(packet) is not Puback:
                break
            if isinstance(outbound, set):
                outbound.discard(packet.packet_id)
            end += 1
        self._head = end
        return cast(list[Puback], queue[head:end])

    def send_pubacks(self: _State, packet_ids: list[int]) -> bytes:
        """PUBACKs with reason 0 and no properties for ``packet_ids``, in order, as one buffer.

        The rules of ``send`` for each :class:`Puback`, checked once: PUBACK is legal
        only while CONNECTED, and the 4-byte packet must fit the client's limit.
        """
        limit = self.client_limits.maximum_packet_size
        if self._state is not ConnectionState.CONNECTED or (limit is not None and limit < 4):
            return b"".join([self.send(Puback(pid)) for pid in packet_ids])
        inbound = self._inbound
        if isinstance(inbound, set):
            inbound.difference_update(packet_ids)
        return b"".join([_PUBACK[pid >> 8] + _BYTE[pid & 0xFF] for pid in packet_ids])

    def publish_head(
        self: _State, topic: str, payload: bytes, qos: int, packet_id: int, retain: bool, dup: bool
    ) -> bytes | None:
        """The header of a PUBLISH without properties, sent now; ``None``: use ``send_publish``.

        For the connections with nothing per-client to encode (no topic aliases, no size
        limit the packet breaks), with the checks and the send-quota bookkeeping of
        ``send_publish``; the part before the packet id is cached per topic and size.
        """
        limits = self.client_limits
        if not qos or self._state is not ConnectionState.CONNECTED or limits.topic_alias_maximum:
            return None  # QoS 0 goes through qos0_head
        version = self._decoder.version or 0
        first = 0x30 | (qos << 1) | retain | (dup << 3)
        prefix = PUBLISH_HEADS.get((topic, len(payload), first, version))
        if prefix is None:
            prefix = publish_prefix(topic, payload, qos, retain, dup, version)
        size = len(prefix) + 2 + len(payload) + (version == MQTT_5_0)
        if limits.maximum_packet_size is not None and size > limits.maximum_packet_size:
            return None
        outbound = self._outbound
        if packet_id not in outbound:
            if not self.send_quota:
                return None  # send_publish says why
            if not isinstance(outbound, set):
                fresh: set[int] = set()
                outbound = self._outbound = fresh
            outbound.add(packet_id)
        head = prefix + _BYTE[packet_id >> 8] + _BYTE[packet_id & 0xFF]
        return head + b"\x00" if version == MQTT_5_0 else head
