"""The server side of one MQTT connection, as a pure state machine (h11 style).

The broker feeds socket bytes to :meth:`ServerConnection.receive_data`, pulls packets one
at a time with :meth:`~ServerConnection.next_packet`, and turns its answers into bytes
with :meth:`~ServerConnection.send`. Nothing here reads a clock or touches a socket: time
comes in as ``now`` (monotonic seconds).

Legal moves are the table :data:`~fleetward.mqtt.states.TRANSITIONS`; anything else
raises at once, a :class:`RemoteProtocolError` when the client broke the rule, a
:class:`LocalProtocolError` when the broker tried to. Packets that arrive after CONNECT
but before the broker has answered it are held back, not refused: a client may pipeline
them, but the server must not process them unless it accepts the CONNECT (MQTT-3.1.4-6,
v3 MQTT-3.1.4-5).

Limits the broker announces in its CONNACK (Topic Alias Maximum, Receive Maximum, Maximum
QoS, Retain Available, Maximum Packet Size, Subscription Identifier Available) are
learned from that CONNACK as it is sent and enforced on every later inbound packet, so
they can never disagree with what the client was told. The client's own limits from its
CONNECT are enforced on what the broker sends.

Inbound topic aliases are resolved here: :meth:`~ServerConnection.next_packet` returns
every PUBLISH with its full topic and without the ``topic_alias`` property, because an
alias means nothing outside this connection (MQTT-3.3.2-7). The alias table holds at most
Topic Alias Maximum entries, so announce a small maximum.
"""

from __future__ import annotations

from typing import Final

from fleetward.mqtt._send import SendSide
from fleetward.mqtt.answers import error_answer
from fleetward.mqtt.codec import Decoder, encode
from fleetward.mqtt.constants import (
    MQTT_5_0,
    PacketType,
)
from fleetward.mqtt.errors import (
    MqttError,
    ReceiveMaximumExceededError,
    RemoteProtocolError,
)
from fleetward.mqtt.limits import (
    DEFAULT_CLIENT_LIMITS,
    DEFAULT_SERVER_LIMITS,
    ClientLimits,
    OutboundAliases,
    ServerLimits,
    TopicAliases,
    check_client_auth,
    check_client_disconnect,
)
from fleetward.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Subscribe,
)
from fleetward.mqtt.properties import EMPTY_PROPERTIES
from fleetward.mqtt.states import (
    TRANSITIONS,
    ConnectionState,
    Sender,
    illegal_receive,
)

__all__ = ["ServerConnection"]

_P = PacketType


_NO_IDS: Final[frozenset[int]] = frozenset()
_NO_ALIASES: Final = TopicAliases()  # maximum 0: refuses every alias, never stores one


class ServerConnection(SendSide):
    """Server-side state of one client connection; see the module docstring.

    A broker holds one per connected client, most of them idle, so everything that only
    some connections need (packet-id sets, the alias table, custom limits) starts as a
    shared immutable default and is allocated on first use.
    """

    __slots__ = (
        "_aliases",
        "_decoder",
        "_error",
        "_head",
        "_inbound",
        "_last_received",
        "_queue",
        "client_limits",
        "connect",
        "server_limits",
    )

    def __init__(self, *, max_packet_size: int, now: float = 0.0) -> None:
        self._decoder = Decoder(max_packet_size)
        self._state = ConnectionState.AWAIT_CONNECT
        # decoded, not yet handed out: a list and a head index are lighter than a deque
        # (624 bytes even when empty), and an idle connection holds the shared empty tuple
        self._queue: list[Packet] | tuple[()] = ()
        self._head = 0
        self._error: RemoteProtocolError | None = None
        self._connack_sent = False
        self._answered = False
        self._last_received = now
        self._aliases = _NO_ALIASES
        self._out_aliases: OutboundAliases | None = None  # if the client allows aliases
        self._inbound: set[int] | frozenset[int] = _NO_IDS
        self._outbound: set[int] | frozenset[int] = _NO_IDS
        self.connect: Connect | None = None
        """The CONNECT packet, once :meth:`next_packet` has returned it."""
        self.client_limits = DEFAULT_CLIENT_LIMITS
        """The client's limits from CONNECT, enforced on what we send."""
        self.server_limits = DEFAULT_SERVER_LIMITS
        """Our limits from the CONNACK we sent, enforced on what the client sends."""

    @property
    def state(self) -> ConnectionState:
        """The current state."""
        return self._state

    @property
    def version(self) -> int | None:
        """The protocol level (4 or 5) once a CONNECT has been decoded."""
        return self._decoder.version

    @property
    def keep_alive_deadline(self) -> float | None:
        """When the connection expires without traffic (MQTT-3.1.2-24), if it can.

        One and a half times the Keep Alive, or the Server Keep Alive we announced
        (MQTT-3.2.2-22), after the last whole packet received.
        """
        if self.connect is None:
            return None
        interval = self.server_limits.server_keep_alive
        if interval is None:
            interval = self.connect.keep_alive
        if not interval:
            return None
        return self._last_received + 1.5 * interval

    def keep_alive_expired(self, now: float) -> bool:
        """Whether the client has been silent too long (MQTT-3.1.2-24)."""
        deadline = self.keep_alive_deadline
        return deadline is not None and now > deadline

    def receive_data(self, data: bytes, now: float) -> None:
        """Decode ``data``; the packets wait for :meth:`next_packet`.

        A decoding error is kept and raised by :meth:`next_packet` after the packets
        that preceded it, so nothing the client sent in good order is lost.
        """
        if self._state is ConnectionState.CLOSED or self._error is not None:
            return  # MQTT-3.14.4-1: nothing after the end counts
        packets: list[Packet] = []
        try:
            self._decoder.feed_into(data, packets)
        except RemoteProtocolError as e:
            self._error = e
        if packets:
            queue = self._queue
            if isinstance(queue, list):
                queue.extend(packets)
            else:
                self._queue, self._head = packets, 0
            self._last_received = now

    def next_packet(self) -> Packet | None:
        """The next packet to act on, or ``None`` when there is none (yet).

        Returns ``None`` while the CONNECT awaits its CONNACK and the next packet is
        anything but AUTH or DISCONNECT (held per MQTT-3.1.4-6), and forever once
        closed. Raises :class:`RemoteProtocolError` for a client that broke the protocol;
        answer with :meth:`fail`.
        """
        if self._state is ConnectionState.CLOSED:
            self._drop_queue()
            return None
        try:
            packet = self._next_ready()
            if packet is not None:
                self._receive(packet)
        except RemoteProtocolError:
            self._state = ConnectionState.CLOSED
            self._drop_queue()
            raise
        return packet

    def _drop_queue(self) -> None:
        self._queue, self._head = (), 0

    def _next_ready(self) -> Packet | None:
        """Pop the next packet the broker may act on now, or raise the stored error."""
        queue, head = self._queue, self._head
        if head >= len(queue):
            if queue:
                self._drop_queue()
            if self._error is not None:
                raise self._error
            return None
        if self._state is ConnectionState.AUTHENTICATING and queue[head].packet_type not in (
            _P.AUTH,
            _P.DISCONNECT,
        ):
            if self.client_limits.authentication_method is not None:
                raise RemoteProtocolError(
                    "packet other than AUTH or DISCONNECT during enhanced authentication "
                    "(MQTT-3.1.2-33)"
                )
            return None
        self._head = head + 1
        return queue[head]

    def fail(self, error: MqttError) -> bytes:
        """Close after ``error``; returns what to write before closing (maybe nothing).

        MQTT 5: a CONNACK with the reason code if no CONNACK was sent yet (MQTT-3.14.0-1
        forbids a DISCONNECT then), else a DISCONNECT (5.0 §4.13). MQTT 3.1.1 has only the
        CONNACK refusals 0x01 and 0x02; every other error just closes (v3 MQTT-4.8.0-1).
        """
        answered = self._answered
        self._state = ConnectionState.CLOSED
        self._answered = True
        self._drop_queue()
        version = self._decoder.version
        if version is None and isinstance(error, RemoteProtocolError):
            version = error.protocol_version
        answer = error_answer(error, version, connack_sent=self._connack_sent)
        if answered or answer is None or version is None:
            return b""
        return encode(answer, version)

    def connection_lost(self) -> None:
        """The transport closed; nothing more will be received or sent."""
        self._state = ConnectionState.CLOSED
        self._drop_queue()

    # -- inbound ---------------------------------------------------------------------

    def _receive(self, packet: Packet) -> None:
        ptype = packet.packet_type
        new_state = TRANSITIONS.get((self._state, Sender.CLIENT, ptype))
        if new_state is None:
            raise illegal_receive(self._state, ptype)
        if isinstance(packet, Publish):
            self._receive_publish(packet)
        elif isinstance(packet, Puback | Pubcomp):
            self._free_outbound(packet.packet_id)  # its send quota slot is free again
        elif isinstance(packet, Pubrec):
            if packet.reason_code >= 0x80:  # a refused QoS 2 delivery ends here (4.9)
                self._free_outbound(packet.packet_id)
        elif isinstance(packet, Connect):
            self._receive_connect(packet)
        elif isinstance(packet, Disconnect):
            self._receive_disconnect(packet)
        elif isinstance(packet, Auth):
            self._receive_auth(packet)
        elif isinstance(packet, Subscribe):
            self.server_limits.check_subscribe(packet)
        self._state = new_state

    def _receive_connect(self, packet: Connect) -> None:
        self.connect = packet
        self.client_limits = ClientLimits.from_connect(packet)

    def _receive_publish(self, packet: Publish) -> None:
        limits = self.server_limits
        v5 = self._decoder.version == MQTT_5_0
        if v5:
            limits.check_publish(packet)
            props = packet.properties
            if props is not EMPTY_PROPERTIES:
                if props.subscription_identifiers:
                    raise RemoteProtocolError(
                        "Subscription Identifier from a client (MQTT-3.3.4-6)"
                    )
                if props.topic_alias is not None:
                    self._aliases.resolve(packet, props.topic_alias)
        inbound = self._inbound
        if packet.qos and packet.packet_id not in inbound:
            if v5 and len(inbound) >= limits.receive_maximum:
                raise ReceiveMaximumExceededError(
                    f"more than {limits.receive_maximum} unacknowledged QoS>0 PUBLISH "
                    "(MQTT-3.3.4-7, 5.0 §3.3.4)"
                )
            if not isinstance(inbound, set):
                inbound = self._inbound = set()
            inbound.add(packet.packet_id)

    def _receive_disconnect(self, packet: Disconnect) -> None:
        if self._decoder.version == MQTT_5_0:
            check_client_disconnect(packet, self.connect)

    def _receive_auth(self, packet: Auth) -> None:
        authenticating = self._state is ConnectionState.AUTHENTICATING
        check_client_auth(packet, self.client_limits, authenticating=authenticating)

    def _learn_server_limits(self, packet: Connack) -> None:
        """Enforce from now on what the CONNACK announced (5.0 §3.2.2.3)."""
        limits = self.server_limits = ServerLimits.from_connack(packet)
        if limits.topic_alias_maximum:
            self._aliases = TopicAliases(limits.topic_alias_maximum)
        if limits.maximum_packet_size is not None:
            decoder = self._decoder
            decoder.max_packet_size = max(
                2, min(limits.maximum_packet_size, decoder.max_packet_size)
            )
