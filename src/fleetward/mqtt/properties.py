"""MQTT 5.0 properties (5.0 §2.2.2): one typed, immutable :class:`Properties` object.

The table below is 5.0 Table 2-4: each property's identifier, data type and the packets
it may appear in; :mod:`fleetward.mqtt.property_codec` reads and writes by it.

:class:`Properties` is immutable so one empty instance, :data:`EMPTY_PROPERTIES`, is shared
by every packet that has none; the decoder returns that very object for a zero Property
Length, which lets encoders take a one-comparison fast path. It is a typed
``NamedTuple`` (slots-free, fields by name) rather than a frozen dataclass: a frozen
dataclass sets each of its 27 fields through ``object.__setattr__`` and costs about 6 us
to build, eight times a NamedTuple, and brokers build one per property-bearing PUBLISH
and per forwarded copy (``_replace``). Repeated properties are tuples so that the value
stays immutable and hashable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, NamedTuple

from fleetward.mqtt.constants import PacketType, PropertyId

__all__ = [
    "EMPTY_PROPERTIES",
    "PROPERTY_SPECS",
    "WILL_PROPERTIES",
    "DataType",
    "Properties",
    "PropertySpec",
]

WILL_PROPERTIES: Final = 0
"""Pseudo packet type for the Will Properties of CONNECT (type 0 is reserved on the wire)."""


class Properties(NamedTuple):
    """Every MQTT 5.0 property; ``None`` or ``()`` means absent (5.0 §2.2.2.2).

    Build with keywords (``Properties(topic_alias=3)``) and derive with ``_replace``.
    Flag properties whose only legal values are 0 and 1 are ``bool``. Secrets
    (authentication data) are kept out of ``repr``, which lists only present fields.
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: bool | None = None
    will_delay_interval: int | None = None
    request_response_information: bool | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: bool | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: bool | None = None
    subscription_identifier_available: bool | None = None
    shared_subscription_available: bool | None = None

    def __repr__(self) -> str:
        shown = []
        for name, value in zip(self._fields, self, strict=True):
            if value is None or value == ():
                continue
            shown.append(
                f"{name}=<redacted>" if name == "authentication_data" else f"{name}={value!r}"
            )
        return f"Properties({', '.join(shown)})"


EMPTY_PROPERTIES: Final = Properties()
"""The shared "no properties" value; the decoder returns exactly this object."""

# Data types of 5.0 §1.5.


class DataType(IntEnum):
    """The data representations of 5.0 §1.5 that properties use."""

    BYTE = 0
    BOOL = 1
    """A Byte whose only legal values are 0 and 1."""
    UINT16 = 2
    UINT32 = 3
    VARIABLE_BYTE_INTEGER = 4
    STRING = 5
    BINARY = 6
    STRING_PAIR = 7


_BYTE = DataType.BYTE
_BOOL = DataType.BOOL
_UINT16 = DataType.UINT16
_UINT32 = DataType.UINT32
_VBI = DataType.VARIABLE_BYTE_INTEGER
_STRING = DataType.STRING
_BINARY = DataType.BINARY
_PAIR = DataType.STRING_PAIR

_P = PacketType
_PUB_WILL = frozenset({_P.PUBLISH, WILL_PROPERTIES})
_ACKS = frozenset({_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP})
_REASON_STRING_PACKETS = frozenset(
    {_P.CONNACK, *_ACKS, _P.SUBACK, _P.UNSUBACK, _P.DISCONNECT, _P.AUTH}
)
_USER_PROPERTY_PACKETS = frozenset(
    {
        _P.CONNECT,
        _P.CONNACK,
        _P.PUBLISH,
        WILL_PROPERTIES,
        *_ACKS,
        _P.SUBSCRIBE,
        _P.SUBACK,
        _P.UNSUBSCRIBE,
        _P.UNSUBACK,
        _P.DISCONNECT,
        _P.AUTH,
    }
)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One row of 5.0 Table 2-4."""

    identifier: int
    name: str
    kind: DataType
    packets: frozenset[int]
    repeatable: bool = False


PROPERTY_SPECS: Final[tuple[PropertySpec, ...]] = (
    PropertySpec(PropertyId.PAYLOAD_FORMAT_INDICATOR, "payload_format_indicator", _BYTE, _PUB_WILL),
    PropertySpec(PropertyId.MESSAGE_EXPIRY_INTERVAL, "message_expiry_interval", _UINT32, _PUB_WILL),
    PropertySpec(PropertyId.CONTENT_TYPE, "content_type", _STRING, _PUB_WILL),
    PropertySpec(PropertyId.RESPONSE_TOPIC, "response_topic", _STRING, _PUB_WILL),
    PropertySpec(PropertyId.CORRELATION_DATA, "correlation_data", _BINARY, _PUB_WILL),
    PropertySpec(
        PropertyId.SUBSCRIPTION_IDENTIFIER,
        "subscription_identifiers",
        _VBI,
        frozenset({_P.PUBLISH, _P.SUBSCRIBE}),
        repeatable=True,
    ),
    PropertySpec(
        PropertyId.SESSION_EXPIRY_INTERVAL,
        "session_expiry_interval",
        _UINT32,
        frozenset({_P.CONNECT, _P.CONNACK, _P.DISCONNECT}),
    ),
    PropertySpec(
        PropertyId.ASSIGNED_CLIENT_IDENTIFIER,
        "assigned_client_identifier",
        _STRING,
        frozenset({_P.CONNACK}),
    ),
    PropertySpec(
        PropertyId.SERVER_KEEP_ALIVE, "server_keep_alive", _UINT16, frozenset({_P.CONNACK})
    ),
    PropertySpec(
        PropertyId.AUTHENTICATION_METHOD,
        "authentication_method",
        _STRING,
        frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH}),
    ),
    PropertySpec(
        PropertyId.AUTHENTICATION_DATA,
        "authentication_data",
        _BINARY,
        frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH}),
    ),
    PropertySpec(
        PropertyId.REQUEST_PROBLEM_INFORMATION,
        "request_problem_information",
        _BOOL,
        frozenset({_P.CONNECT}),
    ),
    PropertySpec(
        PropertyId.WILL_DELAY_INTERVAL,
        "will_delay_interval",
        _UINT32,
        frozenset({WILL_PROPERTIES}),
    ),
    PropertySpec(
        PropertyId.REQUEST_RESPONSE_INFORMATION,
        "request_response_information",
        _BOOL,
        frozenset({_P.CONNECT}),
    ),
    PropertySpec(
        PropertyId.RESPONSE_INFORMATION, "response_information", _STRING, frozenset({_P.CONNACK})
    ),
    PropertySpec(
        PropertyId.SERVER_REFERENCE,
        "server_reference",
        _STRING,
        frozenset({_P.CONNACK, _P.DISCONNECT}),
    ),
    PropertySpec(PropertyId.REASON_STRING, "reason_string", _STRING, _REASON_STRING_PACKETS),
    PropertySpec(
        PropertyId.RECEIVE_MAXIMUM, "receive_maximum", _UINT16, frozenset({_P.CONNECT, _P.CONNACK})
    ),
    PropertySpec(
        PropertyId.TOPIC_ALIAS_MAXIMUM,
        "topic_alias_maximum",
        _UINT16,
        frozenset({_P.CONNECT, _P.CONNACK}),
    ),
    PropertySpec(PropertyId.TOPIC_ALIAS, "topic_alias", _UINT16, frozenset({_P.PUBLISH})),
    PropertySpec(PropertyId.MAXIMUM_QOS, "maximum_qos", _BYTE, frozenset({_P.CONNACK})),
    PropertySpec(PropertyId.RETAIN_AVAILABLE, "retain_available", _BOOL, frozenset({_P.CONNACK})),
    PropertySpec(
        PropertyId.USER_PROPERTY,
        "user_properties",
        _PAIR,
        _USER_PROPERTY_PACKETS,
        repeatable=True,
    ),
    PropertySpec(
        PropertyId.MAXIMUM_PACKET_SIZE,
        "maximum_packet_size",
        _UINT32,
        frozenset({_P.CONNECT, _P.CONNACK}),
    ),
    PropertySpec(
        PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE,
        "wildcard_subscription_available",
        _BOOL,
        frozenset({_P.CONNACK}),
    ),
    PropertySpec(
        PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        "subscription_identifier_available",
        _BOOL,
        frozenset({_P.CONNACK}),
    ),
    PropertySpec(
        PropertyId.SHARED_SUBSCRIPTION_AVAILABLE,
        "shared_subscription_available",
        _BOOL,
        frozenset({_P.CONNACK}),
    ),
)
