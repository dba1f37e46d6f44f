"""The send side of :class:`~fleetward.mqtt.connection.ServerConnection`: check, encode.

Every packet the broker sends is checked against the state table and the client's
limits from its CONNECT before it is encoded, and only then changes state (a refused
packet changes nothing). Sending the accepting CONNACK is also when the limits the
broker announced start to apply to what the client sends. Kept apart from
``connection.py`` so each module stays small; this base class owns the send side's slots
and the state it advances (the receive side reads and advances it too), and the
connection sets everything up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetward.mqtt._batch import PublishRuns
from fleetward.mqtt.codec import encode, encode_publish_parts, qos0_publish_head
from fleetward.mqtt.constants import MQTT_5_0, PacketType
from fleetward.mqtt.errors import LocalProtocolError, PeerPacketTooLargeError
from fleetward.mqtt.limits import (
    OutboundAliases,
    check_accepting_connack,
    check_server_packet,
)
from fleetward.mqtt.packets import Connack, Disconnect, Packet, Puback, Pubcomp, Publish, Pubrec
from fleetward.mqtt.properties import Properties
from fleetward.mqtt.states import CONNACK_REFUSED, TRANSITIONS, ConnectionState, Sender

if TYPE_CHECKING:
    from fleetward.mqtt.codec import Decoder
    from fleetward.mqtt.limits import ClientLimits
    from fleetward.mqtt.packets import Connect

__all__ = ["SendSide"]


class SendSide(PublishRuns):
    """Outbound checks and bookkeeping of a connection (set up by its ``__init__``)."""

    __slots__ = ("_answered", "_connack_sent", "_out_aliases", "_outbound", "_state")

    _state: ConnectionState
    _answered: bool
    _connack_sent: bool
    _out_aliases: OutboundAliases | None
    _outbound: set[int] | frozenset[int]

    if TYPE_CHECKING:
        _decoder: Decoder
        _inbound: set[int] | frozenset[int]
        connect: Connect | None
        client_limits: ClientLimits

        def _learn_server_limits(self, packet: Connack) -> None:
            """Enforce what the CONNACK announced (see ServerConnection)."""

    @property
    def send_quota(self) -> int:
        """QoS 1/2 PUBLISH packets we may still send now (MQTT-3.3.4-9, MQTT-4.9.0-2)."""
        return max(0, self.client_limits.receive_maximum - len(self._outbound))

    def send(self, packet: Packet) -> bytes:
        """Check ``packet`` against the state and the client's limits, and encode it.

        Raises :class:`LocalProtocolError` (nothing is sent and no state changes); for a
        PUBLISH too large for the client, :class:`PeerPacketTooLargeError`, after which the
        broker drops the message as if sent (MQTT-3.1.2-28).
        """
        if isinstance(packet, Publish):
            head, payload = self.send_publish(packet)
            return head + payload
        new_state = self._check_send(packet)
        data = encode(packet, self._decoder.version or 0)
        self._check_size(len(data))
        self._commit_send(packet, new_state)
        return data

    def send_publish(self, packet: Publish) -> tuple[bytes, bytes]:
        """Like :meth:`send` for a PUBLISH, as ``(header, payload)`` for ``writelines``.

        When the client allowed Topic Aliases, the topic is replaced by an alias where
        one is mapped, and mapped on first use (see :class:`OutboundAliases`).
        """
        topic, alias, maximum = packet.topic, 0, self.client_limits.topic_alias_maximum
        if maximum and packet.properties.topic_alias is None:
            if self._out_aliases is None:
                self._out_aliases = OutboundAliases(maximum)
            alias = self._out_aliases.apply(packet)
        new_state = self._check_send(packet)
        head, payload = encode_publish_parts(packet, self._decoder.version or 0)
        self._check_size(len(head) + len(payload))
        self._commit_send(packet, new_state)
        if alias and self._out_aliases is not None:
            self._out_aliases.commit(topic, alias)
        return head, payload

    def qos0_head(
        self, topic: str, payload: bytes, retain: bool, properties: Properties
    ) -> bytes | None:
        """The header of a QoS 0 PUBLISH with no per-client properties (fan-out's hot path).

        ``None``: use :meth:`send_publish` (aliases, a size limit, suppressed properties).
        """
        limits = self.client_limits
        if self._state is not ConnectionState.CONNECTED or limits.topic_alias_maximum:
            return None
        head = qos0_publish_head(topic, payload, retain, self._decoder.version or 0, properties)
        if (
            limits.maximum_packet_size is not None
            and len(head) + len(payload) > limits.maximum_packet_size
        ) or (not limits.problem_information and properties.user_properties):
            return None
        return head

    def _check_send(self, packet: Packet) -> ConnectionState:
        """Validate an outbound packet without changing any state; the next state."""
        ptype = packet.packet_type
        event = ptype
        if isinstance(packet, Connack) and packet.reason_code:
            event = CONNACK_REFUSED
        new_state = TRANSITIONS.get((self._state, Sender.SERVER, event))
        if new_state is None:
            raise LocalProtocolError(
                f"a server cannot send {PacketType(ptype).name} in state {self._state.value} "
                "(MQTT-3.2.0-1/2, MQTT-3.14.0-1)"
            )
        check_server_packet(packet, self.client_limits, self._decoder.version == MQTT_5_0)
        if (
            isinstance(packet, Publish)
            and packet.qos
            and packet.packet_id not in self._outbound
            and not self.send_quota
        ):
            raise LocalProtocolError("send quota exhausted (MQTT-3.3.4-9, MQTT-4.9.0-2)")
        if isinstance(packet, Connack) and not packet.reason_code and self._decoder.version == 5:
            check_accepting_connack(packet, self.connect, self.client_limits)
        return new_state

    def _check_size(self, size: int) -> None:
        limit = self.client_limits.maximum_packet_size
        if limit is not None and size > limit:
            raise PeerPacketTooLargeError(
                f"{size} bytes exceed the client's Maximum Packet Size {limit} (MQTT-3.1.2-27)"
            )

    def _commit_send(self, packet: Packet, new_state: ConnectionState) -> None:
        if isinstance(packet, Publish):
            if packet.qos:
                outbound = self._outbound
                if not isinstance(outbound, set):
                    outbound = self._outbound = set()
                outbound.add(packet.packet_id)
        elif isinstance(packet, Puback | Pubcomp):
            self._free_inbound(packet.packet_id)
        elif isinstance(packet, Pubrec):
            if packet.reason_code >= 0x80:
                self._free_inbound(packet.packet_id)
        elif isinstance(packet, Connack):
            if packet.reason_code:
                self._answered = True
            else:
                self._connack_sent = True
                self._learn_server_limits(packet)
        elif isinstance(packet, Disconnect):
            self._answered = True
        self._state = new_state

    def _free_inbound(self, packet_id: int) -> None:
        if isinstance(self._inbound, set):
            self._inbound.discard(packet_id)

    def _free_outbound(self, packet_id: int) -> None:
        if isinstance(self._outbound, set):
            self._outbound.discard(packet_id)
