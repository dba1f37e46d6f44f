"""MQTT errors: who broke the protocol, and what to answer.

Following h11, a :class:`RemoteProtocolError` means the peer sent something the
specification forbids; its ``reason_code`` is the MQTT 5 reason code to answer with in a
CONNACK or DISCONNECT (5.0 §4.13). MQTT 3.1.1 has no such codes: there the connection is
simply closed (3.1.1 MQTT-4.8.0-1), except for the two CONNECT refusals 3.1.1 can express
(0x01 unacceptable protocol version, 0x02 identifier rejected), which the connection maps
from the same reason codes. A :class:`LocalProtocolError` means *we* tried to send
something illegal: a bug or a policy slip on our side, never the peer's fault.

One subclass per reason code keeps ``mqtt_reason`` a class constant, as the Fleetward
error tree wants it, while ``reason_code`` reads the same value under its MQTT name.
"""

from __future__ import annotations

from typing import ClassVar

from fleetward.errors import FleetwardError
from fleetward.mqtt.constants import ReasonCode

__all__ = [
    "ClientIdentifierNotValidError",
    "LocalProtocolError",
    "MalformedPacketError",
    "MqttError",
    "PacketTooLargeError",
    "PayloadFormatInvalidError",
    "PeerPacketTooLargeError",
    "QosNotSupportedError",
    "ReceiveMaximumExceededError",
    "RemoteProtocolError",
    "RetainNotSupportedError",
    "SubscriptionIdentifiersNotSupportedError",
    "TopicAliasInvalidError",
    "TopicFilterInvalidError",
    "TopicNameInvalidError",
    "UnsupportedProtocolVersionError",
]


class MqttError(FleetwardError):
    """Root of every error the MQTT core raises."""

    code = "mqtt.error"
    http_status: ClassVar[int] = 400
    mqtt_reason: ClassVar[int] = ReasonCode.UNSPECIFIED_ERROR
    title: ClassVar[str] = "MQTT error"

    @property
    def reason_code(self) -> int:
        """The MQTT 5 reason code that describes this error."""
        return self.mqtt_reason


class RemoteProtocolError(MqttError):
    """The peer broke the protocol; answer with ``reason_code`` (if any) and close.

    ``protocol_version`` is the protocol level in force when the error was found, or
    ``None`` when no CONNECT had been understood yet; the connection uses it to choose the
    wire format of its answer.
    """

    code = "mqtt.protocol_error"
    mqtt_reason = ReasonCode.PROTOCOL_ERROR
    title = "MQTT protocol error"

    def __init__(
        self, detail: str, *, code: str | None = None, protocol_version: int | None = None
    ) -> None:
        super().__init__(detail, code=code)
        self.protocol_version = protocol_version


class MalformedPacketError(RemoteProtocolError):
    """The bytes cannot be parsed as the specification defines them (0x81)."""

    code = "mqtt.malformed_packet"
    mqtt_reason = ReasonCode.MALFORMED_PACKET
    title = "Malformed MQTT packet"


class UnsupportedProtocolVersionError(RemoteProtocolError):
    """CONNECT names a protocol or level we do not speak (0x84; 3.1.1 CONNACK 0x01)."""

    code = "mqtt.unsupported_protocol_version"
    mqtt_reason = ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
    title = "Unsupported MQTT protocol version"


class ClientIdentifierNotValidError(RemoteProtocolError):
    """The client identifier is refused (0x85; 3.1.1 CONNACK 0x02, MQTT-3.1.3-8)."""

    code = "mqtt.client_identifier_not_valid"
    mqtt_reason = ReasonCode.CLIENT_IDENTIFIER_NOT_VALID
    title = "Client identifier not valid"


class TopicFilterInvalidError(RemoteProtocolError):
    """A topic filter breaks the wildcard or shared-subscription rules (0x8F)."""

    code = "mqtt.topic_filter_invalid"
    mqtt_reason = ReasonCode.TOPIC_FILTER_INVALID
    title = "Topic filter invalid"


class TopicNameInvalidError(RemoteProtocolError):
    """A topic name is not acceptable, e.g. it holds a wildcard (0x90, MQTT-3.3.2-2)."""

    code = "mqtt.topic_name_invalid"
    mqtt_reason = ReasonCode.TOPIC_NAME_INVALID
    title = "Topic name invalid"


class ReceiveMaximumExceededError(RemoteProtocolError):
    """The client has more unacknowledged QoS>0 PUBLISHes than allowed (0x93)."""

    code = "mqtt.receive_maximum_exceeded"
    mqtt_reason = ReasonCode.RECEIVE_MAXIMUM_EXCEEDED
    title = "Receive Maximum exceeded"


class TopicAliasInvalidError(RemoteProtocolError):
    """Topic Alias 0 or above the announced maximum (0x94, MQTT-3.3.2-8)."""

    code = "mqtt.topic_alias_invalid"
    mqtt_reason = ReasonCode.TOPIC_ALIAS_INVALID
    title = "Topic alias invalid"


class PacketTooLargeError(RemoteProtocolError):
    """A packet announces more bytes than the maximum packet size (0x95)."""

    code = "mqtt.packet_too_large"
    mqtt_reason = ReasonCode.PACKET_TOO_LARGE
    title = "Packet too large"


class PayloadFormatInvalidError(RemoteProtocolError):
    """Payload Format Indicator 1 with a payload that is not UTF-8 (0x99)."""

    code = "mqtt.payload_format_invalid"
    mqtt_reason = ReasonCode.PAYLOAD_FORMAT_INVALID
    title = "Payload format invalid"


class RetainNotSupportedError(RemoteProtocolError):
    """RETAIN used after the server announced Retain Available 0 (0x9A)."""

    code = "mqtt.retain_not_supported"
    mqtt_reason = ReasonCode.RETAIN_NOT_SUPPORTED
    title = "Retain not supported"


class QosNotSupportedError(RemoteProtocolError):
    """A PUBLISH above the server's announced Maximum QoS (0x9B)."""

    code = "mqtt.qos_not_supported"
    mqtt_reason = ReasonCode.QOS_NOT_SUPPORTED
    title = "QoS not supported"


class SubscriptionIdentifiersNotSupportedError(RemoteProtocolError):
    """A Subscription Identifier after the server announced it does not support them."""

    code = "mqtt.subscription_identifiers_not_supported"
    mqtt_reason = ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
    title = "Subscription identifiers not supported"


class LocalProtocolError(MqttError):
    """We tried to send something the specification forbids; nothing was sent."""

    code = "mqtt.local_protocol_error"
    http_status = 500
    mqtt_reason = ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    title = "MQTT usage error"


class PeerPacketTooLargeError(LocalProtocolError):
    """The packet exceeds the peer's Maximum Packet Size (MQTT-3.1.2-27).

    A server drops such a PUBLISH and behaves as if it had sent it (MQTT-3.1.2-28).
    """

    code = "mqtt.packet_too_large_for_peer"
