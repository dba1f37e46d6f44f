"""Reading and writing MQTT 5.0 properties (5.0 §2.2.2) by the table in :mod:`.properties`.

Reading enforces 5.0 Table 2-4. An unknown identifier, or a known one that is not valid
for the packet type, is a Malformed Packet (0x81, 5.0 §2.2.2.2: "A Control Packet which
contains an Identifier which is not valid for its packet type ... is a Malformed
Packet"). A repeated property (only User Property, and Subscription Identifier in
PUBLISH, may repeat) or an out-of-range value is a Protocol Error (0x82), as the
per-property text of 5.0 §3 says.
"""

from __future__ import annotations

from typing import Any, Final, cast

from fleetward.mqtt.constants import MAX_VARIABLE_BYTE_INTEGER, PacketType, PropertyId
from fleetward.mqtt.errors import (
    LocalProtocolError,
    MalformedPacketError,
    RemoteProtocolError,
    TopicAliasInvalidError,
)
from fleetward.mqtt.primitives import (
    decode_binary,
    decode_string,
    decode_variable_byte_integer,
    encode_binary,
    encode_string,
    encode_variable_byte_integer,
)
from fleetward.mqtt.properties import (
    EMPTY_PROPERTIES,
    PROPERTY_SPECS,
    WILL_PROPERTIES,
    DataType,
    Properties,
)

__all__ = ["decode_properties", "encode_properties"]

# Plain ints for the hot loop (an IntEnum compares slower than an int).
_BYTE: Final = int(DataType.BYTE)
_BOOL: Final = int(DataType.BOOL)
_UINT16: Final = int(DataType.UINT16)
_UINT32: Final = int(DataType.UINT32)
_VBI: Final = int(DataType.VARIABLE_BYTE_INTEGER)
_STRING: Final = int(DataType.STRING)
_BINARY: Final = int(DataType.BINARY)
_PAIR: Final = int(DataType.STRING_PAIR)

_ROWS: Final = {
    spec.identifier: (spec.name, int(spec.kind), spec.packets, spec.repeatable)
    for spec in PROPERTY_SPECS
}
"""The table as tuples, unpacked in one step by the decoder."""
_SPECS_IN_FIELD_ORDER: Final = tuple(
    next(spec for spec in PROPERTY_SPECS if spec.name == name) for name in Properties._fields
)
_PUBLISH: Final = int(PacketType.PUBLISH)


def _where(packet_type: int) -> str:
    return "Will Properties" if packet_type == WILL_PROPERTIES else PacketType(packet_type).name


def _range_problem(ident: int, value: object) -> str | None:
    """Why ``value`` is out of range for property ``ident``, per its text in 5.0 §3."""
    if ident == PropertyId.PAYLOAD_FORMAT_INDICATOR and value not in (0, 1):
        return "Payload Format Indicator must be 0 or 1 (5.0 §3.3.2.3.2)"
    if ident == PropertyId.MAXIMUM_QOS and value not in (0, 1):
        return "Maximum QoS must be 0 or 1 (5.0 §3.2.2.3.4)"
    if ident == PropertyId.SUBSCRIPTION_IDENTIFIER and value == 0:
        return "Subscription Identifier 0 (5.0 §3.3.2.3.8)"
    if ident in (PropertyId.RECEIVE_MAXIMUM, PropertyId.MAXIMUM_PACKET_SIZE) and value == 0:
        return f"{PropertyId(ident).name} of 0 (5.0 §3.1.2.11.3-4)"
    if ident == PropertyId.RESPONSE_TOPIC and (
        not value or not isinstance(value, str) or "+" in value or "#" in value
    ):
        return "Response Topic must be a topic name (MQTT-3.3.2-14)"
    return None


_CHECKED: Final = frozenset(
    {
        PropertyId.PAYLOAD_FORMAT_INDICATOR,
        PropertyId.MAXIMUM_QOS,
        PropertyId.SUBSCRIPTION_IDENTIFIER,
        PropertyId.RECEIVE_MAXIMUM,
        PropertyId.MAXIMUM_PACKET_SIZE,
        PropertyId.RESPONSE_TOPIC,
    }
)


def decode_properties(  # noqa: PLR0912, PLR0915 - one flat loop is the fast form
    buf: bytes, pos: int, end: int, packet_type: int
) -> tuple[Properties, int]:
    """Read a Property Length and the properties after it (5.0 §2.2.2).

    Returns :data:`EMPTY_PROPERTIES` for a zero length. Raises
    :class:`MalformedPacketError` for unknown identifiers and lengths that overrun,
    :class:`TopicAliasInvalidError` for Topic Alias 0 (MQTT-3.3.2-8) and
    :class:`RemoteProtocolError` for misplaced, repeated or out-of-range properties.
    Identifiers are variable byte integers, but every defined one is below 0x80, so a
    first byte with the continuation bit can only start an unknown identifier.
    """
    if pos >= end:
        raise MalformedPacketError("Property Length missing")
    length = buf[pos]
    if length < 0x80:
        pos += 1
    else:
        length, pos = decode_variable_byte_integer(buf, pos, end)
    if length == 0:
        return EMPTY_PROPERTIES, pos
    stop = pos + length
    if stop > end:
        raise MalformedPacketError("Property Length runs past the packet")
    values: dict[str, Any] = {}
    while pos < stop:
        ident = buf[pos]
        pos += 1
        row = _ROWS.get(ident)
        if row is None:
            raise MalformedPacketError(f"unknown property identifier 0x{ident:02X}")
        key, kind, packets, repeatable = row
        if packet_type not in packets:  # 5.0 §2.2.2.2: an Identifier not valid for the packet
            raise MalformedPacketError(f"{key} is not allowed in {_where(packet_type)}")
        value: Any
        if kind == _STRING:
            value, pos = decode_string(buf, pos, stop)
        elif kind == _UINT32:
            if pos + 4 > stop:
                raise MalformedPacketError("four byte integer runs past the properties")
            value = int.from_bytes(buf[pos : pos + 4], "big")
            pos += 4
        elif kind == _UINT16:
            if pos + 2 > stop:
                raise MalformedPacketError("two byte integer runs past the properties")
            value = (buf[pos] << 8) | buf[pos + 1]
            pos += 2
            if ident == PropertyId.TOPIC_ALIAS and value == 0:
                raise TopicAliasInvalidError("Topic Alias 0 (MQTT-3.3.2-8)")
        elif kind == _PAIR:
            name, pos = decode_string(buf, pos, stop)
            text, pos = decode_string(buf, pos, stop)
            pairs = values.get("user_properties")
            if pairs is None:
                values["user_properties"] = [(name, text)]
            else:
                pairs.append((name, text))
            continue
        elif kind == _BINARY:
            value, pos = decode_binary(buf, pos, stop)
        elif kind == _VBI:
            value, pos = decode_variable_byte_integer(buf, pos, stop)
        else:  # _BYTE, _BOOL
            if pos >= stop:
                raise MalformedPacketError("byte property runs past the properties")
            value = buf[pos]
            pos += 1
            if kind == _BOOL:
                if value > 1:
                    raise RemoteProtocolError(f"{key} must be 0 or 1")
                value = value == 1
        if ident in _CHECKED and (problem := _range_problem(ident, value)) is not None:
            raise RemoteProtocolError(problem)
        if key not in values:
            values[key] = [value] if repeatable else value
        elif repeatable and packet_type == _PUBLISH:
            values[key].append(value)  # several Subscription Identifiers (MQTT-3.3.4-4)
        else:
            raise RemoteProtocolError(f"{key} included more than once (5.0 §2.2.2.2)")
    if "user_properties" in values:
        values["user_properties"] = tuple(values["user_properties"])
    if "subscription_identifiers" in values:
        values["subscription_identifiers"] = tuple(values["subscription_identifiers"])
    return Properties(**values), stop


def encode_properties(props: Properties, packet_type: int) -> bytes:
    """Property Length plus properties for ``packet_type`` (5.0 §2.2.2).

    Raises :class:`LocalProtocolError` for a property the packet may not carry or a
    value out of range: the peer would refuse it.
    """
    if props is EMPTY_PROPERTIES:
        return b"\x00"
    parts: list[bytes] = []
    present = [
        (spec, value)
        for spec, value in zip(_SPECS_IN_FIELD_ORDER, props, strict=True)
        if value is not None and value != ()
    ]
    value: object
    for spec, value in present:
        if packet_type not in spec.packets:
            raise LocalProtocolError(f"{spec.name} is not allowed in {_where(packet_type)}")
        ident = bytes((spec.identifier,))
        kind = spec.kind
        if kind == _PAIR:
            for name, text in cast("tuple[tuple[str, str], ...]", value):
                parts.append(ident + encode_string(name) + encode_string(text))
            continue
        items = cast("tuple[object, ...]", value) if spec.repeatable else (value,)
        if spec.repeatable and packet_type != _PUBLISH and len(items) > 1:
            raise LocalProtocolError("only one Subscription Identifier is allowed here")
        checked = spec.identifier in _CHECKED
        for item in items:
            if checked and (problem := _range_problem(spec.identifier, item)) is not None:
                raise LocalProtocolError(problem)
            if spec.identifier == PropertyId.TOPIC_ALIAS and item == 0:
                raise LocalProtocolError("Topic Alias 0 (MQTT-3.3.2-8)")
            parts.append(ident + _encode_value(kind, item, spec.name))
    body = b"".join(parts)
    return encode_variable_byte_integer(len(body)) + body


_INT_SIZES: Final = {_BYTE: 1, _UINT16: 2, _UINT32: 4}


def _encode_value(kind: int, value: object, name: str) -> bytes:
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise LocalProtocolError(f"{name} must be a bool")
        return b"\x01" if value else b"\x00"
    if isinstance(value, bool):
        raise LocalProtocolError(f"{name} has the wrong type")
    if isinstance(value, int):
        if kind == _VBI:
            if not 1 <= value <= MAX_VARIABLE_BYTE_INTEGER:
                raise LocalProtocolError(f"{name} out of range")
            return encode_variable_byte_integer(value)
        size = _INT_SIZES.get(kind)
        if size is None or not 0 <= value < (1 << (8 * size)):
            raise LocalProtocolError(f"{name} out of range")
        return value.to_bytes(size, "big")
    if isinstance(value, str) and kind == _STRING:
        return encode_string(value)
    if isinstance(value, bytes) and kind == _BINARY:
        return encode_binary(value)
    raise LocalProtocolError(f"{name} has the wrong type")
