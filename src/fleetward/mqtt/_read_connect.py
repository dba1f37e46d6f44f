"""Reading CONNECT (5.0 §3.1, 3.1.1 §3.1): the one packet read before the version is known.

Split from :mod:`._read` because CONNECT alone decides the protocol level, and with it
the format of every later packet and of the answer to any error found while reading it.
"""

from __future__ import annotations

from fleetward.mqtt._read import check_done, check_utf8_payload
from fleetward.mqtt.constants import MQTT_3_1_1, MQTT_5_0, PROTOCOL_NAME, PacketType
from fleetward.mqtt.errors import (
    ClientIdentifierNotValidError,
    MalformedPacketError,
    RemoteProtocolError,
    TopicNameInvalidError,
    UnsupportedProtocolVersionError,
)
from fleetward.mqtt.packets import Connect, Will
from fleetward.mqtt.primitives import decode_binary, decode_string
from fleetward.mqtt.properties import EMPTY_PROPERTIES, WILL_PROPERTIES
from fleetward.mqtt.property_codec import decode_properties

__all__ = ["read_connect"]


def read_connect(first: int, buf: bytes, pos: int, end: int, nonminimal: int) -> Connect:
    """CONNECT (5.0 §3.1); ``nonminimal`` is 1 when the Remaining Length was padded.

    The protocol level decides the format of everything after it, and of our answer, so
    it is read first and attached to every error raised afterwards.
    """
    del first
    name, pos = decode_string(buf, pos, end)
    if pos >= end:
        raise MalformedPacketError("CONNECT ends before the protocol level")
    level = buf[pos]
    if name != PROTOCOL_NAME or level not in (MQTT_3_1_1, MQTT_5_0):
        # MQTT-3.1.2-1/2 (v3 MQTT-3.1.2-1/2): answer 0x84, or 3.1.1 CONNACK 0x01.
        raise UnsupportedProtocolVersionError(
            f"unsupported protocol {name!r} level {level}",
            protocol_version=MQTT_5_0 if level > MQTT_3_1_1 else MQTT_3_1_1,
        )
    try:
        if nonminimal and level == MQTT_5_0:
            raise MalformedPacketError("Remaining Length not minimally encoded (MQTT-1.5.5-1)")
        return _read_connect_rest(buf, pos + 1, end, level)
    except RemoteProtocolError as e:
        if e.protocol_version is None:
            e.protocol_version = level
        raise


def _read_connect_rest(buf: bytes, pos: int, end: int, level: int) -> Connect:
    if pos + 3 > end:
        raise MalformedPacketError("CONNECT variable header is truncated")
    flags = buf[pos]
    keep_alive = (buf[pos + 1] << 8) | buf[pos + 2]
    pos += 3
    if flags & 0x01:
        raise MalformedPacketError("reserved CONNECT flag is set (MQTT-3.1.2-3)")
    will_flag = flags & 0x04
    will_qos = (flags >> 3) & 0x03
    will_retain = flags & 0x20
    if not will_flag and (will_qos or will_retain):
        raise MalformedPacketError("Will QoS/Retain set without a Will (MQTT-3.1.2-11/13/15)")
    if will_qos == 3:
        raise MalformedPacketError("Will QoS 3 (MQTT-3.1.2-14)")
    if level == MQTT_3_1_1 and flags & 0x40 and not flags & 0x80:
        raise MalformedPacketError("password without user name (v3 MQTT-3.1.2-22)")
    props = EMPTY_PROPERTIES
    if level == MQTT_5_0:
        props, pos = decode_properties(buf, pos, end, PacketType.CONNECT)
        if props.authentication_data is not None and props.authentication_method is None:
            raise RemoteProtocolError("Authentication Data without a Method (5.0 §3.1.2.11.10)")
    client_id, pos = decode_string(buf, pos, end)  # MQTT-3.1.3-3/4
    clean_start = bool(flags & 0x02)
    if level == MQTT_3_1_1 and not client_id and not clean_start:
        raise ClientIdentifierNotValidError(
            "zero-byte ClientId with CleanSession 0 (v3 MQTT-3.1.3-7/8)"
        )
    will = None
    if will_flag:
        will, pos = _read_will(buf, pos, end, level, will_qos, bool(will_retain))
    username = None
    password = None
    if flags & 0x80:
        username, pos = decode_string(buf, pos, end)  # MQTT-3.1.2-19, MQTT-3.1.3-10
    if flags & 0x40:
        password, pos = decode_binary(buf, pos, end)  # MQTT-3.1.2-21
    check_done(pos, end)
    return Connect(client_id, level, clean_start, keep_alive, username, password, will, props)


def _read_will(
    buf: bytes, pos: int, end: int, level: int, qos: int, retain: bool
) -> tuple[Will, int]:
    """Will Properties, Will Topic and Will Payload (5.0 §3.1.3.2-4)."""
    props = EMPTY_PROPERTIES
    if level == MQTT_5_0:
        props, pos = decode_properties(buf, pos, end, WILL_PROPERTIES)
    topic, pos = decode_string(buf, pos, end)
    if not topic or "+" in topic or "#" in topic:
        raise TopicNameInvalidError("invalid Will Topic (MQTT-3.1.3-9, MQTT-4.7.3-1)")
    payload, pos = decode_binary(buf, pos, end)
    check_utf8_payload(payload, props)
    return Will(topic, payload, qos, retain, props), pos
