"""One slots dataclass per MQTT control packet (5.0 §3, 3.1.1 §3).

Packets carry the MQTT 5 fields (reason codes, properties); encoding for 3.1.1 omits
them, so the broker can forward one packet object to clients of either version. Reason
codes are always MQTT 5 values: a 3.1.1 CONNACK return code or SUBACK failure is
translated at the wire (see :data:`~fleetward.mqtt.constants.V311_CONNACK_TO_REASON`).

``packet_id`` 0 means "none": the specification never allows identifier 0
(MQTT-2.2.1-3), so it needs no ``Optional``. The classes are mutable, not frozen, because
constructing a frozen dataclass costs several times more and the decoder builds one
PUBLISH per message on the hot path; properties are frozen and shared instead.

PUBLISH payloads are ``bytes``: one copy out of the read buffer, after which the buffer
can be reused and the payload is immutable and shareable. Fan-out to N subscribers then
re-encodes only the small header per subscriber and writes the same payload object
(:func:`~fleetward.mqtt.codec.encode_publish_parts`), which is cheaper than keeping the
original wire bytes: per-subscriber packet identifiers, QoS, RETAIN and properties differ
anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from fleetward.mqtt.constants import MQTT_3_1_1, PacketType
from fleetward.mqtt.properties import EMPTY_PROPERTIES, Properties

__all__ = [
    "Auth",
    "Connack",
    "Connect",
    "Disconnect",
    "Packet",
    "Pingreq",
    "Pingresp",
    "Puback",
    "Pubcomp",
    "Publish",
    "Pubrec",
    "Pubrel",
    "Suback",
    "Subscribe",
    "Subscription",
    "Unsuback",
    "Unsubscribe",
    "Will",
]


@dataclass(slots=True)
class Will:
    """The Will Message of a CONNECT (5.0 §3.1.2.5, §3.1.3.2-3)."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Connect:
    """CONNECT (5.0 §3.1). ``protocol_version`` is 4 (3.1.1) or 5 (5.0)."""

    packet_type: ClassVar[int] = PacketType.CONNECT
    client_id: str = ""
    protocol_version: int = MQTT_3_1_1
    clean_start: bool = True
    keep_alive: int = 0
    username: str | None = None
    password: bytes | None = field(default=None, repr=False)
    will: Will | None = None
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Connack:
    """CONNACK (5.0 §3.2). ``reason_code`` is an MQTT 5 reason code in both versions."""

    packet_type: ClassVar[int] = PacketType.CONNACK
    session_present: bool = False
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Publish:
    """PUBLISH (5.0 §3.3). An empty ``topic`` is legal only with a Topic Alias (v5)."""

    packet_type: ClassVar[int] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class _Ack:
    """The shared layout of the four QoS acknowledgements (5.0 §3.4-3.7)."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Puback(_Ack):
    """PUBACK (5.0 §3.4): QoS 1 acknowledgement."""

    packet_type: ClassVar[int] = PacketType.PUBACK


@dataclass(slots=True)
class Pubrec(_Ack):
    """PUBREC (5.0 §3.5): QoS 2 delivery, part 1."""

    packet_type: ClassVar[int] = PacketType.PUBREC


@dataclass(slots=True)
class Pubrel(_Ack):
    """PUBREL (5.0 §3.6): QoS 2 delivery, part 2."""

    packet_type: ClassVar[int] = PacketType.PUBREL


@dataclass(slots=True)
class Pubcomp(_Ack):
    """PUBCOMP (5.0 §3.7): QoS 2 delivery, part 3."""

    packet_type: ClassVar[int] = PacketType.PUBCOMP


@dataclass(slots=True)
class Subscription:
    """One Topic Filter with its Subscription Options (5.0 §3.8.3.1).

    ``qos`` is the Maximum QoS; ``retain_handling`` is 0 (send retained), 1 (only for a
    new subscription) or 2 (never). The v5-only options are ignored by 3.1.1.
    """

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    """SUBSCRIBE (5.0 §3.8): at least one subscription (MQTT-3.8.3-2, v3 MQTT-3.8.3-3)."""

    packet_type: ClassVar[int] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: list[Subscription]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Suback:
    """SUBACK (5.0 §3.9): one reason code per subscription, in order (MQTT-3.9.3-1)."""

    packet_type: ClassVar[int] = PacketType.SUBACK
    packet_id: int
    reason_codes: list[int]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Unsubscribe:
    """UNSUBSCRIBE (5.0 §3.10): at least one filter (MQTT-3.10.3-2)."""

    packet_type: ClassVar[int] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: list[str]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Unsuback:
    """UNSUBACK (5.0 §3.11). ``reason_codes`` exist only in MQTT 5; empty for 3.1.1."""

    packet_type: ClassVar[int] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: list[int] = field(default_factory=list)
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Pingreq:
    """PINGREQ (5.0 §3.12)."""

    packet_type: ClassVar[int] = PacketType.PINGREQ


@dataclass(slots=True)
class Pingresp:
    """PINGRESP (5.0 §3.13)."""

    packet_type: ClassVar[int] = PacketType.PINGRESP


@dataclass(slots=True)
class Disconnect:
    """DISCONNECT (5.0 §3.14). In 3.1.1 it has no fields and only clients send it."""

    packet_type: ClassVar[int] = PacketType.DISCONNECT
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(slots=True)
class Auth:
    """AUTH (5.0 §3.15): enhanced authentication; MQTT 5 only."""

    packet_type: ClassVar[int] = PacketType.AUTH
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


Packet = (
    Connect
    | Connack
    | Publish
    | Puback
    | Pubrec
    | Pubrel
    | Pubcomp
    | Subscribe
    | Suback
    | Unsubscribe
    | Unsuback
    | Pingreq
    | Pingresp
    | Disconnect
    | Auth
)
"""Any MQTT control packet."""
