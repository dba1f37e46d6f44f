"""MQTT data representations (5.0 §1.5, 3.1.1 §1.5): integers, strings, binary data.

Readers take ``(buf, pos, end)`` and return ``(value, new_pos)`` so the codec walks one
buffer by offsets, never copying it; ``end`` is the end of the current packet, so a field
that runs past it is a Malformed Packet rather than "need more data". Readers raise
:class:`~fleetward.mqtt.errors.MalformedPacketError`; writers raise
:class:`~fleetward.mqtt.errors.LocalProtocolError` because a bad value there is ours.
"""

from __future__ import annotations

from fleetward.mqtt.constants import MAX_STRING_BYTES, MAX_VARIABLE_BYTE_INTEGER
from fleetward.mqtt.errors import LocalProtocolError, MalformedPacketError

__all__ = [
    "decode_binary",
    "decode_string",
    "decode_uint16",
    "decode_uint32",
    "decode_variable_byte_integer",
    "encode_binary",
    "encode_string",
    "encode_uint16",
    "encode_uint32",
    "encode_variable_byte_integer",
    "read_fixed_header_length",
    "variable_byte_integer_size",
]


def variable_byte_integer_size(value: int) -> int:
    """Number of bytes the minimal encoding of ``value`` takes (MQTT-1.5.5-1)."""
    if value < 0x80:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x20_0000:
        return 3
    return 4


def encode_variable_byte_integer(value: int) -> bytes:
    """Minimal variable byte integer encoding (5.0 §1.5.5, MQTT-1.5.5-1)."""
    if value < 0x80:
        if value < 0:
            raise LocalProtocolError(f"variable byte integer {value} is negative")
        return bytes((value,))
    if value > MAX_VARIABLE_BYTE_INTEGER:
        raise LocalProtocolError(f"variable byte integer {value} exceeds 268,435,455")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_variable_byte_integer(
    buf: bytes, pos: int, end: int, *, minimal: bool = True
) -> tuple[int, int]:
    """Read a variable byte integer inside a packet.

    At most four bytes (5.0 §1.5.5). With ``minimal`` (always, for MQTT 5 fields) a
    longer-than-needed encoding is malformed (MQTT-1.5.5-1).
    """
    value = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise MalformedPacketError("variable byte integer runs past the packet")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift == 28:
            raise MalformedPacketError("variable byte integer longer than four bytes")
    if minimal and pos - start != variable_byte_integer_size(value):
        raise MalformedPacketError("variable byte integer not minimally encoded (MQTT-1.5.5-1)")
    return value, pos


def read_fixed_header_length(buf: bytes, pos: int, n: int) -> tuple[int, int] | None:
    """Read the Remaining Length that starts at ``pos``; ``None`` when ``buf`` ends first.

    Returns ``(remaining_length, body_start)``. A fifth length byte is refused at once
    (5.0 §2.1.4: at most four bytes), without waiting for more data.
    """
    value = 0
    shift = 0
    while True:
        if pos >= n:
            return None
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift == 28:
            raise MalformedPacketError("remaining length longer than four bytes")


def encode_uint16(value: int) -> bytes:
    """Two Byte Integer, big-endian (5.0 §1.5.2)."""
    if not 0 <= value <= 0xFFFF:
        raise LocalProtocolError(f"{value} does not fit a two byte integer")
    return value.to_bytes(2, "big")


def encode_uint32(value: int) -> bytes:
    """Four Byte Integer, big-endian (5.0 §1.5.3)."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"{value} does not fit a four byte integer")
    return value.to_bytes(4, "big")


def decode_uint16(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a Two Byte Integer inside a packet."""
    if pos + 2 > end:
        raise MalformedPacketError("two byte integer runs past the packet")
    return (buf[pos] << 8) | buf[pos + 1], pos + 2


def decode_uint32(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a Four Byte Integer inside a packet."""
    if pos + 4 > end:
        raise MalformedPacketError("four byte integer runs past the packet")
    return int.from_bytes(buf[pos : pos + 4], "big"), pos + 4


def encode_string(value: str) -> bytes:
    """UTF-8 Encoded String with its two-byte length (5.0 §1.5.4).

    Refuses U+0000 (MQTT-1.5.4-2), lone surrogates (MQTT-1.5.4-1: Python's strict UTF-8
    encoder cannot produce them) and more than 65,535 bytes.
    """
    if "\x00" in value:
        raise LocalProtocolError("UTF-8 string contains U+0000 (MQTT-1.5.4-2)")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise LocalProtocolError("UTF-8 string contains a surrogate (MQTT-1.5.4-1)") from e
    if len(raw) > MAX_STRING_BYTES:
        raise LocalProtocolError("UTF-8 string longer than 65,535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def decode_string(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    """Read a UTF-8 Encoded String inside a packet.

    Python's strict decoder refuses ill-formed UTF-8, overlong forms and encoded
    surrogates (MQTT-1.5.4-1, 3.1.1 MQTT-1.5.3-1); U+0000 is refused separately
    (MQTT-1.5.4-2, 3.1.1 MQTT-1.5.3-2). A leading U+FEFF is kept as data, never stripped
    (MQTT-1.5.4-3).
    """
    if pos + 2 > end:
        raise MalformedPacketError("string length runs past the packet")
    stop = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
    if stop > end:
        raise MalformedPacketError("string runs past the packet")
    raw = buf[pos + 2 : stop]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedPacketError("ill-formed UTF-8 string (MQTT-1.5.4-1)") from e
    if "\x00" in text:
        raise MalformedPacketError("UTF-8 string contains U+0000 (MQTT-1.5.4-2)")
    return text, stop


def encode_binary(value: bytes) -> bytes:
    """Binary Data with its two-byte length (5.0 §1.5.6)."""
    if len(value) > MAX_STRING_BYTES:
        raise LocalProtocolError("binary data longer than 65,535 bytes")
    return len(value).to_bytes(2, "big") + bytes(value)


def decode_binary(buf: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """Read Binary Data inside a packet."""
    if pos + 2 > end:
        raise MalformedPacketError("binary data length runs past the packet")
    stop = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
    if stop > end:
        raise MalformedPacketError("binary data runs past the packet")
    return buf[pos + 2 : stop], stop
