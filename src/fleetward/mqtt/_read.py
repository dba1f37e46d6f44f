"""Body readers: one function per packet type, ``(first_byte, buf, pos, end, version)``.

The stream framing, the fixed-header checks and the PUBLISH fast path live in
:mod:`fleetward.mqtt.codec`; these readers see exactly one packet body ``buf[pos:end]``
and must consume all of it (trailing bytes are malformed). The package docstring lists
how reason codes are chosen; spec ids are v5 unless marked ``v3``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fleetward.mqtt.constants import (
    AUTH_REASON_CODES,
    CONNACK_REASON_CODES,
    DISCONNECT_REASON_CODES,
    MQTT_5_0,
    PUBACK_REASON_CODES,
    PUBREL_REASON_CODES,
    SUBACK_REASON_CODES,
    SUBACK_REASON_CODES_V311,
    UNSUBACK_REASON_CODES,
    V311_CONNACK_TO_REASON,
    PacketType,
)
from fleetward.mqtt.errors import (
    MalformedPacketError,
    PayloadFormatInvalidError,
    RemoteProtocolError,
    TopicFilterInvalidError,
    TopicNameInvalidError,
)
from fleetward.mqtt.packets import (
    Auth,
    Connack,
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
)
from fleetward.mqtt.primitives import decode_string, decode_uint16
from fleetward.mqtt.properties import (
    EMPTY_PROPERTIES,
    Properties,
)
from fleetward.mqtt.property_codec import decode_properties
from fleetward.mqtt.topics import SHARE_PREFIX, topic_filter_problem

__all__ = ["READERS", "check_done", "check_utf8_payload", "read_publish", "topic_name_error"]

Reader = Callable[[int, bytes, int, int, int], Packet]


def check_done(pos: int, end: int) -> None:
    if pos != end:
        raise MalformedPacketError("trailing bytes inside the packet")


def _packet_id(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """A non-zero Packet Identifier (MQTT-2.2.1-3, v3 MQTT-2.3.1-1)."""
    packet_id, pos = decode_uint16(buf, pos, end)
    if packet_id == 0:
        raise RemoteProtocolError("Packet Identifier 0 (MQTT-2.2.1-3)")
    return packet_id, pos


def _reason(code: int, allowed: frozenset[int], what: str) -> int:
    if code not in allowed:
        raise RemoteProtocolError(f"reason code 0x{code:02X} is not valid in {what}")
    return code


def check_utf8_payload(payload: bytes, props: Properties) -> None:
    """Payload Format Indicator 1 promises UTF-8 (5.0 §3.3.2.3.2); check it (0x99)."""
    if props.payload_format_indicator == 1:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PayloadFormatInvalidError(
                "Payload Format Indicator 1 but the payload is not UTF-8"
            ) from e


def topic_name_error(topic: str, version: int) -> RemoteProtocolError:
    """The error for a PUBLISH or Will topic that failed the fast checks."""
    if "\x00" in topic:
        return MalformedPacketError("topic name contains U+0000 (MQTT-1.5.4-2, MQTT-4.7.3-2)")
    if not topic:
        if version == MQTT_5_0:
            return RemoteProtocolError("empty Topic Name without a Topic Alias (5.0 §3.3.2.3.4)")
        return TopicNameInvalidError("empty topic name (v3 MQTT-4.7.3-1)")
    return TopicNameInvalidError("wildcard in a topic name (MQTT-3.3.2-2)")


def read_publish(first: int, buf: bytes, pos: int, end: int, version: int) -> Publish:
    """PUBLISH, the general path (5.0 §3.3); the codec inlines the common case.

    Fixed-header flags (QoS 3, DUP on QoS 0) were checked by the framing.
    """
    qos = (first >> 1) & 0x03
    topic, pos = decode_string(buf, pos, end)  # MQTT-3.3.2-1
    packet_id = 0
    if qos:
        packet_id, pos = _packet_id(buf, pos, end)
    props = EMPTY_PROPERTIES
    if version == MQTT_5_0:
        props, pos = decode_properties(buf, pos, end, PacketType.PUBLISH)
    if "+" in topic or "#" in topic or (not topic and props.topic_alias is None):
        raise topic_name_error(topic, version)
    payload = buf[pos:end]
    check_utf8_payload(payload, props)
    return Publish(topic, payload, qos, bool(first & 0x01), bool(first & 0x08), packet_id, props)


def _read_connack(first: int, buf: bytes, pos: int, end: int, version: int) -> Connack:
    del first
    if pos + 2 > end:
        raise MalformedPacketError("CONNACK is truncated")
    flags, code = buf[pos], buf[pos + 1]
    pos += 2
    if flags & 0xFE:
        raise MalformedPacketError("reserved CONNACK flags are set (MQTT-3.2.2-1)")
    props = EMPTY_PROPERTIES
    if version == MQTT_5_0:
        reason = _reason(code, CONNACK_REASON_CODES, "CONNACK")
        props, pos = decode_properties(buf, pos, end, PacketType.CONNACK)
    else:
        mapped = V311_CONNACK_TO_REASON.get(code)
        if mapped is None:
            raise RemoteProtocolError(f"reserved CONNACK return code {code}")
        reason = mapped
    if flags and reason:
        raise RemoteProtocolError("Session Present with a refusal (MQTT-3.2.2-6, v3 -4)")
    check_done(pos, end)
    return Connack(bool(flags), reason, props)


_ACK_TYPES: Final[dict[int, tuple[type[Puback | Pubrec | Pubrel | Pubcomp], frozenset[int]]]] = {
    PacketType.PUBACK: (Puback, PUBACK_REASON_CODES),
    PacketType.PUBREC: (Pubrec, PUBACK_REASON_CODES),
    PacketType.PUBREL: (Pubrel, PUBREL_REASON_CODES),
    PacketType.PUBCOMP: (Pubcomp, PUBREL_REASON_CODES),
}


def _read_ack(first: int, buf: bytes, pos: int, end: int, version: int) -> Packet:
    """PUBACK, PUBREC, PUBREL, PUBCOMP (5.0 §3.4-3.7), with the v5 short forms."""
    ptype = first >> 4
    cls, allowed = _ACK_TYPES[ptype]
    packet_id, pos = _packet_id(buf, pos, end)
    reason = 0
    props = EMPTY_PROPERTIES
    if version == MQTT_5_0 and pos < end:
        # Remaining Length 2: reason 0x00; 3: no properties (5.0 §3.4.2.1, §3.4.2.2.1).
        reason = _reason(buf[pos], allowed, PacketType(ptype).name)
        pos += 1
        if pos < end:
            props, pos = decode_properties(buf, pos, end, ptype)
    check_done(pos, end)
    return cls(packet_id, reason, props)


def _read_subscribe(first: int, buf: bytes, pos: int, end: int, version: int) -> Subscribe:
    del first
    packet_id, pos = _packet_id(buf, pos, end)
    props = EMPTY_PROPERTIES
    v5 = version == MQTT_5_0
    if v5:
        props, pos = decode_properties(buf, pos, end, PacketType.SUBSCRIBE)
    subscriptions: list[Subscription] = []
    while pos < end:
        topic_filter, pos = decode_string(buf, pos, end)  # MQTT-3.8.3-1
        if pos >= end:
            raise MalformedPacketError("Subscription Options missing")
        options = buf[pos]
        pos += 1
        qos = options & 0x03
        if options & (0xC0 if v5 else 0xFC):
            raise MalformedPacketError("reserved Subscription Options bits (MQTT-3.8.3-5)")
        if qos == 3:  # 5.0 §3.8.3.1: a Protocol Error; v3 MQTT-3.8.3-4: malformed
            if v5:
                raise RemoteProtocolError("Maximum QoS 3 in Subscription Options (5.0 §3.8.3.1)")
            raise MalformedPacketError("requested QoS 3 (MQTT-3.8.3-4)")
        problem = topic_filter_problem(topic_filter, shared=v5)
        if problem is not None:
            raise TopicFilterInvalidError(problem)
        no_local = bool(options & 0x04)
        retain_handling = (options >> 4) & 0x03
        if retain_handling == 3:
            raise RemoteProtocolError("Retain Handling 3 (5.0 §3.8.3.1)")
        if no_local and topic_filter.startswith(SHARE_PREFIX):
            raise RemoteProtocolError("No Local on a shared subscription (MQTT-3.8.3-4)")
        subscriptions.append(
            Subscription(topic_filter, qos, no_local, bool(options & 0x08), retain_handling)
        )
    if not subscriptions:
        raise RemoteProtocolError("SUBSCRIBE without a Topic Filter (MQTT-3.8.3-2, v3 -3)")
    return Subscribe(packet_id, subscriptions, props)


def _read_codes(buf: bytes, pos: int, end: int, allowed: frozenset[int], what: str) -> list[int]:
    codes = [_reason(code, allowed, what) for code in buf[pos:end]]
    if not codes:
        raise RemoteProtocolError(f"{what} without reason codes (MQTT-3.9.3-1)")
    return codes


def _read_suback(first: int, buf: bytes, pos: int, end: int, version: int) -> Suback:
    del first
    packet_id, pos = _packet_id(buf, pos, end)
    props = EMPTY_PROPERTIES
    allowed = SUBACK_REASON_CODES_V311
    if version == MQTT_5_0:
        props, pos = decode_properties(buf, pos, end, PacketType.SUBACK)
        allowed = SUBACK_REASON_CODES
    return Suback(packet_id, _read_codes(buf, pos, end, allowed, "SUBACK"), props)


def _read_unsubscribe(first: int, buf: bytes, pos: int, end: int, version: int) -> Unsubscribe:
    del first
    packet_id, pos = _packet_id(buf, pos, end)
    props = EMPTY_PROPERTIES
    v5 = version == MQTT_5_0
    if v5:
        props, pos = decode_properties(buf, pos, end, PacketType.UNSUBSCRIBE)
    filters: list[str] = []
    while pos < end:
        topic_filter, pos = decode_string(buf, pos, end)  # MQTT-3.10.3-1
        problem = topic_filter_problem(topic_filter, shared=v5)
        if problem is not None:
            raise TopicFilterInvalidError(problem)
        filters.append(topic_filter)
    if not filters:
        raise RemoteProtocolError("UNSUBSCRIBE without a Topic Filter (MQTT-3.10.3-2)")
    return Unsubscribe(packet_id, filters, props)


def _read_unsuback(first: int, buf: bytes, pos: int, end: int, version: int) -> Unsuback:
    del first
    packet_id, pos = _packet_id(buf, pos, end)
    if version != MQTT_5_0:
        check_done(pos, end)
        return Unsuback(packet_id)
    props, pos = decode_properties(buf, pos, end, PacketType.UNSUBACK)
    return Unsuback(packet_id, _read_codes(buf, pos, end, UNSUBACK_REASON_CODES, "UNSUBACK"), props)


def _read_empty(first: int, buf: bytes, pos: int, end: int, version: int) -> Packet:
    """PINGREQ and PINGRESP have no variable header or payload (5.0 §3.12-3.13)."""
    del buf, version
    check_done(pos, end)
    return Pingreq() if first >> 4 == PacketType.PINGREQ else Pingresp()


def _read_reason_only(
    first: int, buf: bytes, pos: int, end: int, version: int
) -> tuple[int, Properties]:
    """The v5 "reason code and properties, both optional" layout of DISCONNECT and AUTH."""
    ptype = first >> 4
    if version != MQTT_5_0:
        if ptype == PacketType.AUTH:
            raise MalformedPacketError("AUTH is reserved in MQTT 3.1.1")
        check_done(pos, end)  # v3 DISCONNECT has no variable header (3.1.1 §3.14)
        return 0, EMPTY_PROPERTIES
    if pos == end:
        return 0, EMPTY_PROPERTIES
    if ptype == PacketType.AUTH:
        if end - pos < 2:
            raise MalformedPacketError("AUTH with a reason code but no Property Length")
        reason = _reason(buf[pos], AUTH_REASON_CODES, "AUTH")
    else:
        reason = _reason(buf[pos], DISCONNECT_REASON_CODES, "DISCONNECT")
    pos += 1
    props = EMPTY_PROPERTIES
    if pos < end:  # 5.0 §3.14.2.2.1: Remaining Length < 2 means no properties
        props, pos = decode_properties(buf, pos, end, ptype)
    check_done(pos, end)
    return reason, props


def _read_disconnect(first: int, buf: bytes, pos: int, end: int, version: int) -> Disconnect:
    reason, props = _read_reason_only(first, buf, pos, end, version)
    return Disconnect(reason, props)


def _read_auth(first: int, buf: bytes, pos: int, end: int, version: int) -> Auth:
    reason, props = _read_reason_only(first, buf, pos, end, version)
    return Auth(reason, props)


READERS: Final[dict[int, Reader]] = {
    PacketType.CONNACK: _read_connack,
    PacketType.PUBLISH: read_publish,
    PacketType.PUBACK: _read_ack,
    PacketType.PUBREC: _read_ack,
    PacketType.PUBREL: _read_ack,
    PacketType.PUBCOMP: _read_ack,
    PacketType.SUBSCRIBE: _read_subscribe,
    PacketType.SUBACK: _read_suback,
    PacketType.UNSUBSCRIBE: _read_unsubscribe,
    PacketType.UNSUBACK: _read_unsuback,
    PacketType.PINGREQ: _read_empty,
    PacketType.PINGRESP: _read_empty,
    PacketType.DISCONNECT: _read_disconnect,
    PacketType.AUTH: _read_auth,
}
"""Readers for every type except CONNECT, which the codec calls itself."""
