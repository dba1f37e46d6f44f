"""Data representations (5.0 §1.5): variable byte integers, strings, binary data."""

from __future__ import annotations

import pytest

from fleetward.mqtt import LocalProtocolError, MalformedPacketError
from fleetward.mqtt.primitives import (
    decode_binary,
    decode_string,
    decode_uint16,
    decode_uint32,
    decode_variable_byte_integer,
    encode_binary,
    encode_string,
    encode_uint16,
    encode_uint32,
    encode_variable_byte_integer,
    read_fixed_header_length,
    variable_byte_integer_size,
)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_variable_byte_integer_matches_the_table_of_5_0_section_1_5_5(
    value: int, wire: bytes
) -> None:
    assert encode_variable_byte_integer(value) == wire
    assert decode_variable_byte_integer(wire, 0, len(wire)) == (value, len(wire))
    assert variable_byte_integer_size(value) == len(wire)


@pytest.mark.parametrize("value", [-1, 268_435_456])
def test_variable_byte_integer_out_of_range_is_a_local_error(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_variable_byte_integer(value)


def test_mqtt_1_5_5_1_non_minimal_encoding_is_malformed() -> None:
    with pytest.raises(MalformedPacketError, match=r"MQTT-1\.5\.5-1"):
        decode_variable_byte_integer(b"\x80\x00", 0, 2)
    assert decode_variable_byte_integer(b"\x80\x00", 0, 2, minimal=False) == (0, 2)


def test_a_fifth_variable_byte_integer_byte_is_malformed() -> None:
    with pytest.raises(MalformedPacketError, match="four bytes"):
        decode_variable_byte_integer(b"\xff\xff\xff\xff\x01", 0, 5)
    with pytest.raises(MalformedPacketError, match="four bytes"):
        read_fixed_header_length(b"\x30\xff\xff\xff\xff", 1, 5)


def test_variable_byte_integer_past_the_packet_is_malformed() -> None:
    with pytest.raises(MalformedPacketError):
        decode_variable_byte_integer(b"\x80", 0, 1)


def test_fixed_header_length_waits_for_more_bytes() -> None:
    assert read_fixed_header_length(b"\x30\x80", 1, 2) is None
    assert read_fixed_header_length(b"\x30\x80\x01", 1, 3) == (128, 3)


def test_two_and_four_byte_integers_are_big_endian() -> None:
    assert encode_uint16(0x1234) == b"\x12\x34"
    assert encode_uint32(0x12345678) == b"\x12\x34\x56\x78"
    assert decode_uint16(b"\x12\x34", 0, 2) == (0x1234, 2)
    assert decode_uint32(b"\x12\x34\x56\x78", 0, 4) == (0x12345678, 4)
    with pytest.raises(MalformedPacketError):
        decode_uint16(b"\x12", 0, 1)
    with pytest.raises(MalformedPacketError):
        decode_uint32(b"\x12\x34\x56", 0, 3)
    with pytest.raises(LocalProtocolError):
        encode_uint16(0x10000)
    with pytest.raises(LocalProtocolError):
        encode_uint32(-1)


def test_strings_round_trip_and_keep_a_leading_bom() -> None:
    """MQTT-1.5.4-3: U+FEFF is data, never stripped."""
    for text in ("", "a/b", "\ufeffbom", "\u00e9\u4e2d\U0001f600"):
        wire = encode_string(text)
        assert decode_string(wire, 0, len(wire)) == (text, len(wire))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xc3\x28",  # invalid continuation
        b"\xc0\xaf",  # overlong "/"
        b"\xed\xa0\x80",  # encoded surrogate U+D800 (MQTT-1.5.4-1)
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"a\x00b",  # U+0000 (MQTT-1.5.4-2)
    ],
)
def test_mqtt_1_5_4_1_and_2_bad_strings_are_malformed(raw: bytes) -> None:
    wire = len(raw).to_bytes(2, "big") + raw
    with pytest.raises(MalformedPacketError):
        decode_string(wire, 0, len(wire))


def test_string_longer_than_its_packet_is_malformed() -> None:
    with pytest.raises(MalformedPacketError):
        decode_string(b"\x00\x05abc", 0, 5)
    with pytest.raises(MalformedPacketError):
        decode_string(b"\x00", 0, 1)


@pytest.mark.parametrize("text", ["a\x00", "\ud800", "x" * 65_536])
def test_strings_we_may_not_send_are_local_errors(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_string(text)


def test_binary_data_round_trips_and_is_bounded() -> None:
    wire = encode_binary(b"\x00\xff")
    assert decode_binary(wire, 0, len(wire)) == (b"\x00\xff", 4)
    with pytest.raises(LocalProtocolError):
        encode_binary(b"x" * 65_536)
    with pytest.raises(MalformedPacketError):
        decode_binary(b"\x00\x03ab", 0, 4)
    with pytest.raises(MalformedPacketError):
        decode_binary(b"\x00", 0, 1)
