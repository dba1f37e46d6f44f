"""Sans-I/O MQTT 3.1.1 and 5.0: packets, codec, topics and the server connection machine.

Bytes in, packets out; packets in, bytes out. No sockets, no event loop, no clock: the
asyncio broker drives this core and supplies ``now``. :mod:`~fleetward.mqtt.codec` holds
the stream decoder, :mod:`~fleetward.mqtt.connection` the per-connection state machine,
:mod:`~fleetward.mqtt.errors` what each failure answers on the wire.

Where the specifications leave room, the core decides as follows:

* 0x81 Malformed Packet when the bytes do not follow the grammar (fixed-header flags,
  QoS 3, DUP on QoS 0, lengths that overrun, ill-formed UTF-8 or U+0000, reserved bits,
  unknown property identifiers, trailing bytes); 0x82 Protocol Error when they parse but
  break a rule (Packet Identifier 0, SUBSCRIBE/UNSUBSCRIBE without filters, a reason
  code the packet does not allow, misplaced, repeated or out-of-range properties, Retain
  Handling 3, No Local on a shared subscription, an empty topic without a Topic Alias).
* 0x90 for a topic name with a wildcard (and for an empty one in 3.1.1), 0x8F for a
  topic filter that breaks the wildcard or ``$share`` syntax, 0x94 for Topic Alias 0.
  Both close the connection (MQTT-4.13.1-1); per-filter refusals by *policy* (depth,
  ACL) belong in the SUBACK and use :func:`topic_filter_problem`.
* A padded Remaining Length is refused in MQTT 5 (MQTT-1.5.5-1) and accepted in 3.1.1,
  which has no such rule; for a CONNECT it is decided once the level has been read.
* An unknown protocol name or level is answered 0x84 in an MQTT 5 CONNACK when the level
  is 5 or above, else with the 3.1.1 return code 0x01.
* Payload Format Indicator 1 is checked (the receiver MAY do so): invalid UTF-8 is 0x99.
* AUTH may omit both reason code and properties (5.0 §3.15.2.1), not just one.
* Packets are never lost before an error: :meth:`Decoder.feed_into` and
  :class:`ServerConnection` deliver every packet that preceded the violation.
"""

from __future__ import annotations

from fleetward.mqtt.answers import error_answer
from fleetward.mqtt.codec import Decoder, encode, encode_publish_parts
from fleetward.mqtt.connection import ServerConnection
from fleetward.mqtt.constants import (
    MAX_PACKET_SIZE,
    MQTT_3_1_1,
    MQTT_5_0,
    SUPPORTED_VERSIONS,
    PacketType,
    PropertyId,
    ReasonCode,
)
from fleetward.mqtt.errors import (
    ClientIdentifierNotValidError,
    LocalProtocolError,
    MalformedPacketError,
    MqttError,
    PacketTooLargeError,
    PayloadFormatInvalidError,
    PeerPacketTooLargeError,
    QosNotSupportedError,
    ReceiveMaximumExceededError,
    RemoteProtocolError,
    RetainNotSupportedError,
    SubscriptionIdentifiersNotSupportedError,
    TopicAliasInvalidError,
    TopicFilterInvalidError,
    TopicNameInvalidError,
    UnsupportedProtocolVersionError,
)
from fleetward.mqtt.limits import ClientLimits, ServerLimits, TopicAliases
from fleetward.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from fleetward.mqtt.properties import EMPTY_PROPERTIES, Properties
from fleetward.mqtt.states import TRANSITIONS, ConnectionState, Sender
from fleetward.mqtt.topics import (
    SharedSubscription,
    is_valid_topic_filter,
    is_valid_topic_name,
    matches,
    parse_shared_subscription,
    topic_filter_problem,
    topic_name_problem,
)

__all__ = [
    "EMPTY_PROPERTIES",
    "MAX_PACKET_SIZE",
    "MQTT_3_1_1",
    "MQTT_5_0",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "Auth",
    "ClientIdentifierNotValidError",
    "ClientLimits",
    "Connack",
    "Connect",
    "ConnectionState",
    "Decoder",
    "Disconnect",
    "LocalProtocolError",
    "MalformedPacketError",
    "MqttError",
    "Packet",
    "PacketTooLargeError",
    "PacketType",
    "PayloadFormatInvalidError",
    "PeerPacketTooLargeError",
    "Pingreq",
    "Pingresp",
    "Properties",
    "PropertyId",
    "Puback",
    "Pubcomp",
    "Publish",
    "Pubrec",
    "Pubrel",
    "QosNotSupportedError",
    "ReasonCode",
    "ReceiveMaximumExceededError",
    "RemoteProtocolError",
    "RetainNotSupportedError",
    "Sender",
    "ServerConnection",
    "ServerLimits",
    "SharedSubscription",
    "Suback",
    "Subscribe",
    "Subscription",
    "SubscriptionIdentifiersNotSupportedError",
    "TopicAliasInvalidError",
    "TopicAliases",
    "TopicFilterInvalidError",
    "TopicNameInvalidError",
    "Unsuback",
    "Unsubscribe",
    "UnsupportedProtocolVersionError",
    "Will",
    "encode",
    "encode_publish_parts",
    "error_answer",
    "is_valid_topic_filter",
    "is_valid_topic_name",
    "matches",
    "parse_shared_subscription",
    "topic_filter_problem",
    "topic_name_problem",
]
