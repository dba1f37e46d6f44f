"""Per-connection limits the two sides announce, and the inbound topic alias table.

MQTT 5 lets each side bound what the other may send: the client in CONNECT (Receive
Maximum, Topic Alias Maximum, Maximum Packet Size, Request Problem Information), the
server in CONNACK (the same plus Maximum QoS, Retain Available, Subscription Identifier
Available, Server Keep Alive). Absent properties take the defaults of 5.0 §3.1.2.11 and
§3.2.2.3. 3.1.1 has none of them, so the defaults apply there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from fleetward.mqtt.constants import CLIENT_DISCONNECT_REASON_CODES, PacketType, ReasonCode
from fleetward.mqtt.errors import (
    LocalProtocolError,
    QosNotSupportedError,
    RemoteProtocolError,
    RetainNotSupportedError,
    SubscriptionIdentifiersNotSupportedError,
    TopicAliasInvalidError,
)
from fleetward.mqtt.packets import Auth, Connack, Connect, Disconnect, Packet, Publish, Subscribe
from fleetward.mqtt.properties import EMPTY_PROPERTIES

__all__ = [
    "DEFAULT_CLIENT_LIMITS",
    "DEFAULT_RECEIVE_MAXIMUM",
    "DEFAULT_SERVER_LIMITS",
    "ClientLimits",
    "OutboundAliases",
    "ServerLimits",
    "TopicAliases",
    "check_accepting_connack",
    "check_client_auth",
    "check_client_disconnect",
    "check_server_packet",
]

DEFAULT_RECEIVE_MAXIMUM: Final = 65_535
"""Receive Maximum when the property is absent (5.0 §3.1.2.11.3, §3.2.2.3.3)."""


@dataclass(slots=True, frozen=True)
class ClientLimits:
    """What the client's CONNECT allows the server to send (5.0 §3.1.2.11)."""

    receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM
    topic_alias_maximum: int = 0
    maximum_packet_size: int | None = None
    problem_information: bool = True
    authentication_method: str | None = None

    @classmethod
    def from_connect(cls, connect: Connect) -> ClientLimits:
        """Read the limits from a CONNECT's properties."""
        props = connect.properties
        if props is EMPTY_PROPERTIES:
            return DEFAULT_CLIENT_LIMITS  # MQTT 3.1.1 and plain v5 clients share one
        return cls(
            receive_maximum=props.receive_maximum or DEFAULT_RECEIVE_MAXIMUM,
            topic_alias_maximum=props.topic_alias_maximum or 0,
            maximum_packet_size=props.maximum_packet_size,
            problem_information=props.request_problem_information is not False,
            authentication_method=props.authentication_method,
        )


@dataclass(slots=True, frozen=True)
class ServerLimits:
    """What our CONNACK allows the client to send (5.0 §3.2.2.3)."""

    receive_maximum: int = DEFAULT_RECEIVE_MAXIMUM
    topic_alias_maximum: int = 0
    maximum_qos: int = 2
    retain_available: bool = True
    subscription_identifiers_available: bool = True
    server_keep_alive: int | None = None
    maximum_packet_size: int | None = None

    def check_publish(self, packet: Publish) -> None:
        """Refuse a client PUBLISH beyond what we announced (MQTT 5 only)."""
        if packet.qos > self.maximum_qos:
            raise QosNotSupportedError(f"QoS {packet.qos} above Maximum QoS (5.0 §3.2.2.3.4)")
        if packet.retain and not self.retain_available:
            raise RetainNotSupportedError("RETAIN after Retain Available 0 (MQTT-3.2.2-14)")

    def check_subscribe(self, packet: Subscribe) -> None:
        """Refuse a Subscription Identifier after announcing none (5.0 §3.2.2.3.12)."""
        if packet.properties.subscription_identifiers and not (
            self.subscription_identifiers_available
        ):
            raise SubscriptionIdentifiersNotSupportedError(
                "Subscription Identifier after announcing none (5.0 §3.2.2.3.12)"
            )

    @classmethod
    def from_connack(cls, connack: Connack) -> ServerLimits:
        """Read the limits from a CONNACK's properties."""
        props = connack.properties
        if props is EMPTY_PROPERTIES:
            return DEFAULT_SERVER_LIMITS
        return cls(
            receive_maximum=props.receive_maximum or DEFAULT_RECEIVE_MAXIMUM,
            topic_alias_maximum=props.topic_alias_maximum or 0,
            maximum_qos=2 if props.maximum_qos is None else props.maximum_qos,
            retain_available=props.retain_available is not False,
            subscription_identifiers_available=props.subscription_identifier_available is not False,
            server_keep_alive=props.server_keep_alive,
            maximum_packet_size=props.maximum_packet_size,
        )


DEFAULT_CLIENT_LIMITS: Final = ClientLimits()
DEFAULT_SERVER_LIMITS: Final = ServerLimits()


@dataclass(slots=True)
class TopicAliases:
    """Inbound Topic Alias mappings of one connection (5.0 §3.3.2.3.4).

    Holds at most ``maximum`` entries; mappings never outlive the connection
    (MQTT-3.3.2-7).
    """

    maximum: int = 0
    _table: dict[int, str] = field(default_factory=dict)

    def resolve(self, packet: Publish, alias: int) -> None:
        """Record or apply ``alias`` for ``packet`` and strip the property from it.

        Raises :class:`TopicAliasInvalidError` above the maximum (MQTT-3.2.2-17/18,
        MQTT-3.3.2-12) and :class:`RemoteProtocolError` for an empty topic with an alias
        that has no mapping yet.
        """
        if not 0 < alias <= self.maximum:
            raise TopicAliasInvalidError(
                f"Topic Alias {alias} above the maximum {self.maximum} (MQTT-3.3.2-12)"
            )
        if packet.topic:
            self._table[alias] = packet.topic
        else:
            topic = self._table.get(alias)
            if topic is None:
                raise RemoteProtocolError(f"unknown Topic Alias {alias} (5.0 §3.3.2.3.4)")
            packet.topic = topic
        props = packet.properties._replace(topic_alias=None)
        packet.properties = EMPTY_PROPERTIES if props == EMPTY_PROPERTIES else props


def check_accepting_connack(
    connack: Connack, connect: Connect | None, client: ClientLimits
) -> None:
    """A v5 CONNACK that accepts must agree with the CONNECT it accepts.

    Raises :class:`LocalProtocolError` (the broker tried to send an illegal CONNACK).
    """
    props = connack.properties
    if props.authentication_method != client.authentication_method:
        raise LocalProtocolError(
            "CONNACK Authentication Method must echo CONNECT's (MQTT-4.12.0-5/6)"
        )
    will = connect.will if connect is not None else None
    if will is not None:
        if props.maximum_qos is not None and will.qos > props.maximum_qos:
            raise LocalProtocolError("accepting a Will above Maximum QoS (MQTT-3.2.2-12)")
        if will.retain and props.retain_available is False:
            raise LocalProtocolError("accepting a retained Will without Retain (MQTT-3.2.2-13)")


def check_client_disconnect(packet: Disconnect, connect: Connect | None) -> None:
    """A v5 client DISCONNECT: client reason codes only, no expiry from zero (§3.14)."""
    if packet.reason_code not in CLIENT_DISCONNECT_REASON_CODES:
        raise RemoteProtocolError(
            f"DISCONNECT reason 0x{packet.reason_code:02X} is for servers only"
        )
    expiry = packet.properties.session_expiry_interval
    if connect is not None and expiry and not connect.properties.session_expiry_interval:
        raise RemoteProtocolError(
            "non-zero Session Expiry on DISCONNECT after zero on CONNECT (5.0 §3.14.2.2.2)"
        )


def check_client_auth(packet: Auth, client: ClientLimits, *, authenticating: bool) -> None:
    """A client AUTH must follow the method its CONNECT named (5.0 §4.12)."""
    method = client.authentication_method
    if method is None:
        raise RemoteProtocolError("AUTH without an Authentication Method (MQTT-4.12.0-7)")
    if packet.properties.authentication_method != method:
        raise RemoteProtocolError("AUTH with another Authentication Method (MQTT-4.12.0-5)")
    allowed = (
        (ReasonCode.CONTINUE_AUTHENTICATION,)
        if authenticating
        else (ReasonCode.CONTINUE_AUTHENTICATION, ReasonCode.RE_AUTHENTICATE)
    )
    if packet.reason_code not in allowed:
        raise RemoteProtocolError(
            f"AUTH reason 0x{packet.reason_code:02X} from a client here (MQTT-4.12.0-3, "
            "MQTT-4.12.1-1)"
        )


class OutboundAliases:
    """Topic Aliases the server assigns to what it sends (5.0 §3.3.2.3.4).

    Used only when the client's CONNECT allowed them (Topic Alias Maximum > 0,
    MQTT-3.1.2-26). The first PUBLISH of a topic carries the topic and a fresh alias; later
    ones carry an empty topic and the alias. When every alias is taken, the oldest
    assignment is reused by sending the new topic with that alias, which re-maps it on
    the client (MQTT-3.3.2-12 allows a sender to change a mapping). A mapping is recorded
    only once its PUBLISH is really sent, so a dropped packet never leaves the client
    with an alias it has not seen.
    """

    __slots__ = ("_by_topic", "_maximum", "_next", "_topics")

    def __init__(self, maximum: int) -> None:
        self._maximum = maximum
        self._by_topic: dict[str, int] = {}
        self._topics: dict[int, str] = {}
        self._next = 1

    def choose(self, topic: str) -> tuple[int, bool]:
        """``(alias, known)``: an alias already mapped to ``topic``, or the one to map."""
        alias = self._by_topic.get(topic)
        if alias is not None:
            return alias, True
        return self._next, False

    def apply(self, packet: Publish) -> int:
        """Put the alias on ``packet`` (and an empty topic when mapped); the alias."""
        alias, known = self.choose(packet.topic)
        packet.properties = packet.properties._replace(topic_alias=alias)
        if known:
            packet.topic = ""
        return alias

    def commit(self, topic: str, alias: int) -> None:
        """Record that ``topic`` was sent with ``alias`` (the mapping is now live)."""
        old = self._topics.get(alias)
        if old == topic:
            return
        if old is not None:
            del self._by_topic[old]
        self._topics[alias] = topic
        self._by_topic[topic] = alias
        self._next = alias % self._maximum + 1


_PROBLEM_INFO_PACKETS: Final = frozenset(
    {PacketType.PUBLISH, PacketType.CONNACK, PacketType.DISCONNECT}
)


def check_server_packet(packet: Packet, client: ClientLimits, v5: bool) -> None:
    """Refuse an outbound packet the client's CONNECT (or 3.1.1) does not allow."""
    ptype = packet.packet_type
    if not v5 and ptype in (PacketType.AUTH, PacketType.DISCONNECT):
        raise LocalProtocolError(f"a 3.1.1 server never sends {PacketType(ptype).name}")
    if ptype == PacketType.AUTH and client.authentication_method is None:
        raise LocalProtocolError("AUTH to a client without enhanced auth (MQTT-4.12.0-6)")
    props = getattr(packet, "properties", EMPTY_PROPERTIES)
    if props is EMPTY_PROPERTIES:
        return
    if (
        not client.problem_information
        and ptype not in _PROBLEM_INFO_PACKETS
        and (props.reason_string is not None or props.user_properties)
    ):
        raise LocalProtocolError("Reason String or User Property not requested (MQTT-3.1.2-32)")
    alias = props.topic_alias
    if ptype == PacketType.PUBLISH and alias is not None and alias > client.topic_alias_maximum:
        raise LocalProtocolError(
            f"Topic Alias {alias} above the client's maximum (MQTT-3.3.2-11, MQTT-3.1.2-29/30)"
        )
    if ptype == PacketType.DISCONNECT and props.session_expiry_interval is not None:
        raise LocalProtocolError("Session Expiry on a server DISCONNECT (MQTT-3.14.2-2)")
