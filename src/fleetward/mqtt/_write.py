"""Packet writers: one function per packet type, ``(packet, version) -> bytes``.

Writers refuse, with :class:`LocalProtocolError`, anything a conforming peer would have to
refuse, so a bug on our side surfaces here rather than as the peer closing the
connection. MQTT 5-only fields are omitted for 3.1.1 (reason codes are translated where
3.1.1 has an equivalent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fleetward.mqtt.constants import (
    AUTH_REASON_CODES,
    CONNACK_REASON_CODES,
    DISCONNECT_REASON_CODES,
    MQTT_5_0,
    PUBACK_REASON_CODES,
    PUBREL_REASON_CODES,
    SUBACK_REASON_CODES,
    SUPPORTED_VERSIONS,
    UNSUBACK_REASON_CODES,
    V311_CONNACK_FROM_REASON,
    PacketType,
)
from fleetward.mqtt.errors import LocalProtocolError
from fleetward.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from fleetward.mqtt.primitives import (
    encode_binary,
    encode_string,
    encode_variable_byte_integer,
)
from fleetward.mqtt.properties import (
    EMPTY_PROPERTIES,
    WILL_PROPERTIES,
    Properties,
)
from fleetward.mqtt.property_codec import encode_properties
from fleetward.mqtt.topics import topic_filter_problem, topic_name_problem

__all__ = ["WRITERS", "publish_parts"]


_PUBLISH: Final = int(PacketType.PUBLISH)


def _frame(first: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((first, size)) + body
    return bytes((first,)) + encode_variable_byte_integer(size) + body


def _empty(props: Properties) -> bool:
    return props is EMPTY_PROPERTIES or props == EMPTY_PROPERTIES


def _packet_id(packet_id: int) -> bytes:
    if not 0 < packet_id <= 0xFFFF:
        raise LocalProtocolError(f"Packet Identifier {packet_id} (MQTT-2.2.1-3)")
    return packet_id.to_bytes(2, "big")


def _reason(code: int, allowed: frozenset[int], what: str) -> int:
    if code not in allowed:
        raise LocalProtocolError(f"reason code 0x{code:02X} is not valid in {what}")
    return code


def publish_parts(packet: Publish, version: int) -> tuple[bytes, bytes]:  # noqa: PLR0912
    """Everything before the payload, and the payload (5.0 §3.3).

    The split lets a broker write ``(header, payload)`` with ``writelines`` so one payload
    object serves every subscriber without being copied into each packet. The checks stay
    inline (many branches) because this runs once per delivered message.
    """
    qos = packet.qos
    topic = packet.topic
    props = packet.properties
    if not topic:
        if version != MQTT_5_0 or props.topic_alias is None:
            raise LocalProtocolError("empty topic name without a Topic Alias (MQTT-4.7.3-1)")
        raw = b""
    else:
        if "+" in topic or "#" in topic or "\x00" in topic:
            raise LocalProtocolError(f"invalid topic name {topic!r} (MQTT-3.3.2-2)")
        try:
            raw = topic.encode("utf-8")
        except UnicodeEncodeError as e:
            raise LocalProtocolError("topic name contains a surrogate (MQTT-1.5.4-1)") from e
        if len(raw) > 0xFFFF:
            raise LocalProtocolError("topic name longer than 65,535 bytes (MQTT-4.7.3-3)")
    first = 0x30 | (qos << 1)
    if packet.retain:
        first |= 0x01
    if qos:
        if qos > 2 or qos < 0:
            raise LocalProtocolError(f"QoS {qos} (MQTT-3.3.1-4)")
        if packet.dup:
            first |= 0x08
        head = len(raw).to_bytes(2, "big") + raw + _packet_id(packet.packet_id)
    else:
        if packet.dup:
            raise LocalProtocolError("DUP on a QoS 0 PUBLISH (MQTT-3.3.1-2)")
        if packet.packet_id:
            raise LocalProtocolError("Packet Identifier on a QoS 0 PUBLISH (MQTT-2.2.1-2)")
        head = len(raw).to_bytes(2, "big") + raw
    if version == MQTT_5_0:
        head += b"\x00" if props is EMPTY_PROPERTIES else encode_properties(props, _PUBLISH)
    size = len(head) + len(packet.payload)
    if size < 0x80:
        return bytes((first, size)) + head, packet.payload
    return bytes((first,)) + encode_variable_byte_integer(size) + head, packet.payload


def _write_publish(packet: Publish, version: int) -> bytes:
    head, payload = publish_parts(packet, version)
    return head + payload


def _write_connect(packet: Connect, version: int) -> bytes:
    level = packet.protocol_version
    if level not in SUPPORTED_VERSIONS or level != version:
        raise LocalProtocolError(f"CONNECT protocol_version {level} with version {version}")
    v5 = level == MQTT_5_0
    if not 0 <= packet.keep_alive <= 0xFFFF:
        raise LocalProtocolError("Keep Alive out of range")
    flags = 0x02 if packet.clean_start else 0x00
    if not v5 and not packet.client_id and not packet.clean_start:
        raise LocalProtocolError("zero-byte ClientId needs CleanSession 1 (v3 MQTT-3.1.3-7)")
    payload = [encode_string(packet.client_id)]
    will = packet.will
    if will is not None:
        if not 0 <= will.qos <= 2:
            raise LocalProtocolError(f"Will QoS {will.qos} (MQTT-3.1.2-14)")
        problem = topic_name_problem(will.topic)
        if problem is not None:
            raise LocalProtocolError(problem)
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        if v5:
            payload.append(encode_properties(will.properties, WILL_PROPERTIES))
        payload.append(encode_string(will.topic))
        payload.append(encode_binary(will.payload))
    if packet.username is not None:
        flags |= 0x80
        payload.append(encode_string(packet.username))
    if packet.password is not None:
        if not v5 and packet.username is None:
            raise LocalProtocolError("password without user name (v3 MQTT-3.1.2-22)")
        flags |= 0x40
        payload.append(encode_binary(packet.password))
    props = packet.properties
    if v5 and props.authentication_data is not None and props.authentication_method is None:
        raise LocalProtocolError("Authentication Data without a Method (5.0 §3.1.2.11.10)")
    header = (
        encode_string("MQTT")
        + bytes((level, flags))
        + packet.keep_alive.to_bytes(2, "big")
        + (encode_properties(props, PacketType.CONNECT) if v5 else b"")
    )
    return _frame(0x10, header + b"".join(payload))


def _write_connack(packet: Connack, version: int) -> bytes:
    reason = packet.reason_code
    if packet.session_present and reason:
        raise LocalProtocolError("Session Present with a refusal (MQTT-3.2.2-6)")
    flags = 0x01 if packet.session_present else 0x00
    if version == MQTT_5_0:
        _reason(reason, CONNACK_REASON_CODES, "CONNACK")
        props = encode_properties(packet.properties, PacketType.CONNACK)
        return _frame(0x20, bytes((flags, reason)) + props)
    code = V311_CONNACK_FROM_REASON.get(reason)
    if code is None:
        if reason < 0x80:
            raise LocalProtocolError(f"CONNACK reason 0x{reason:02X} has no 3.1.1 form")
        code = 0x03  # any other refusal: "Server unavailable"
    return bytes((0x20, 0x02, flags, code))


_ACK_RULES: Final[dict[int, tuple[int, frozenset[int]]]] = {
    PacketType.PUBACK: (0x40, PUBACK_REASON_CODES),
    PacketType.PUBREC: (0x50, PUBACK_REASON_CODES),
    PacketType.PUBREL: (0x62, PUBREL_REASON_CODES),
    PacketType.PUBCOMP: (0x70, PUBREL_REASON_CODES),
}


def _write_ack(packet: Puback | Pubrec | Pubrel | Pubcomp, version: int) -> bytes:
    """PUBACK/PUBREC/PUBREL/PUBCOMP, in the shortest v5 form that carries the fields."""
    first, allowed = _ACK_RULES[packet.packet_type]
    packet_id = _packet_id(packet.packet_id)
    if version != MQTT_5_0:
        return bytes((first, 2)) + packet_id
    reason = _reason(packet.reason_code, allowed, type(packet).__name__.upper())
    if _empty(packet.properties):
        if reason == 0:
            return bytes((first, 2)) + packet_id
        return bytes((first, 3)) + packet_id + bytes((reason,))
    props = encode_properties(packet.properties, packet.packet_type)
    return _frame(first, packet_id + bytes((reason,)) + props)


def _write_subscribe(packet: Subscribe, version: int) -> bytes:
    if not packet.subscriptions:
        raise LocalProtocolError("SUBSCRIBE without a Topic Filter (MQTT-3.8.3-2)")
    v5 = version == MQTT_5_0
    parts = [_packet_id(packet.packet_id)]
    if v5:
        parts.append(encode_properties(packet.properties, PacketType.SUBSCRIBE))
    for sub in packet.subscriptions:
        problem = topic_filter_problem(sub.topic_filter, shared=v5)
        if problem is not None:
            raise LocalProtocolError(problem)
        if not 0 <= sub.qos <= 2 or not 0 <= sub.retain_handling <= 2:
            raise LocalProtocolError("Subscription Options out of range (5.0 §3.8.3.1)")
        options = sub.qos
        if v5:
            if sub.no_local and sub.topic_filter.startswith("$share/"):
                raise LocalProtocolError("No Local on a shared subscription (MQTT-3.8.3-4)")
            options |= (
                (0x04 if sub.no_local else 0)
                | (0x08 if sub.retain_as_published else 0)
                | (sub.retain_handling << 4)
            )
        parts.append(encode_string(sub.topic_filter) + bytes((options,)))
    return _frame(0x82, b"".join(parts))


def _write_suback(packet: Suback, version: int) -> bytes:
    if not packet.reason_codes:
        raise LocalProtocolError("SUBACK without reason codes (MQTT-3.8.4-6)")
    if version == MQTT_5_0:
        codes = bytes(_reason(c, SUBACK_REASON_CODES, "SUBACK") for c in packet.reason_codes)
        props = encode_properties(packet.properties, PacketType.SUBACK)
        return _frame(0x90, _packet_id(packet.packet_id) + props + codes)
    v3_codes = bytearray()
    for code in packet.reason_codes:
        if code >= 0x80:
            v3_codes.append(0x80)  # 3.1.1 has a single failure code
        elif code <= 0x02:
            v3_codes.append(code)
        else:
            raise LocalProtocolError(f"SUBACK reason 0x{code:02X} has no 3.1.1 form")
    return _frame(0x90, _packet_id(packet.packet_id) + bytes(v3_codes))


def _write_unsubscribe(packet: Unsubscribe, version: int) -> bytes:
    if not packet.topic_filters:
        raise LocalProtocolError("UNSUBSCRIBE without a Topic Filter (MQTT-3.10.3-2)")
    v5 = version == MQTT_5_0
    parts = [_packet_id(packet.packet_id)]
    if v5:
        parts.append(encode_properties(packet.properties, PacketType.UNSUBSCRIBE))
    for topic_filter in packet.topic_filters:
        problem = topic_filter_problem(topic_filter, shared=v5)
        if problem is not None:
            raise LocalProtocolError(problem)
        parts.append(encode_string(topic_filter))
    return _frame(0xA2, b"".join(parts))


def _write_unsuback(packet: Unsuback, version: int) -> bytes:
    packet_id = _packet_id(packet.packet_id)
    if version != MQTT_5_0:
        return b"\xb0\x02" + packet_id
    if not packet.reason_codes:
        raise LocalProtocolError("UNSUBACK without reason codes (MQTT-3.11.3-1)")
    codes = bytes(_reason(c, UNSUBACK_REASON_CODES, "UNSUBACK") for c in packet.reason_codes)
    props = encode_properties(packet.properties, PacketType.UNSUBACK)
    return _frame(0xB0, packet_id + props + codes)


def _write_pingreq(packet: Pingreq, version: int) -> bytes:
    del packet, version
    return b"\xc0\x00"


def _write_pingresp(packet: Pingresp, version: int) -> bytes:
    del packet, version
    return b"\xd0\x00"


def _write_disconnect(packet: Disconnect, version: int) -> bytes:
    if version != MQTT_5_0:
        return b"\xe0\x00"
    reason = _reason(packet.reason_code, DISCONNECT_REASON_CODES, "DISCONNECT")
    if _empty(packet.properties):
        return b"\xe0\x00" if reason == 0 else bytes((0xE0, 1, reason))
    props = encode_properties(packet.properties, PacketType.DISCONNECT)
    return _frame(0xE0, bytes((reason,)) + props)


def _write_auth(packet: Auth, version: int) -> bytes:
    if version != MQTT_5_0:
        raise LocalProtocolError("AUTH does not exist in MQTT 3.1.1")
    reason = _reason(packet.reason_code, AUTH_REASON_CODES, "AUTH")
    if reason == 0 and _empty(packet.properties):
        return b"\xf0\x00"  # 5.0 §3.15.2.1: both fields omitted
    props = encode_properties(packet.properties, PacketType.AUTH)
    return _frame(0xF0, bytes((reason,)) + props)


WRITERS: Final[dict[type, Callable[[Any, int], bytes]]] = {
    Connect: _write_connect,
    Connack: _write_connack,
    Publish: _write_publish,
    Puback: _write_ack,
    Pubrec: _write_ack,
    Pubrel: _write_ack,
    Pubcomp: _write_ack,
    Subscribe: _write_subscribe,
    Suback: _write_suback,
    Unsubscribe: _write_unsubscribe,
    Unsuback: _write_unsuback,
    Pingreq: _write_pingreq,
    Pingresp: _write_pingresp,
    Disconnect: _write_disconnect,
    Auth: _write_auth,
}
"""Writer per packet class; the values take the matching class (typed loosely here)."""
