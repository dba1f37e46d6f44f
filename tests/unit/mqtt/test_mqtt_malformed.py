"""Protocol violations, one row each, with the exact reason code the decoder assigns.

Each row is ``(spec id, version, wire bytes, reason code)``. ``version`` None means the
decoder has not seen a CONNECT yet (server side). For MQTT 3.1.1 the reason code only
classifies the error: the answer on the wire is to close the connection, which the last
test checks through :class:`ServerConnection`.
"""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    Connack,
    Connect,
    Decoder,
    MqttError,
    RemoteProtocolError,
    ServerConnection,
    encode,
)
from fleetward.mqtt.primitives import encode_variable_byte_integer

MALFORMED = 0x81
PROTOCOL = 0x82
UNSUPPORTED = 0x84
CLIENT_ID = 0x85
FILTER = 0x8F
TOPIC = 0x90
ALIAS = 0x94
TOO_LARGE = 0x95
PAYLOAD_FORMAT = 0x99


def frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_variable_byte_integer(len(body)) + body


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def props(*items: bytes) -> bytes:
    body = b"".join(items)
    return encode_variable_byte_integer(len(body)) + body


def connect(
    level: int = 5,
    flags: int = 0x02,
    name: str = "MQTT",
    properties: bytes = b"\x00",
    payload: bytes = b"",
) -> bytes:
    header = s(name) + bytes((level, flags)) + b"\x00\x3c"
    if level == 5:
        header += properties
    return frame(0x10, header + (payload or s("client")))


def publish(topic: bytes, *, qos: int = 0, first: int | None = None, extra: bytes = b"") -> bytes:
    head = len(topic).to_bytes(2, "big") + topic
    if qos:
        head += b"\x00\x01"
    return frame(first if first is not None else 0x30 | (qos << 1), head + extra)


def subscribe(body: bytes, first: int = 0x82) -> bytes:
    return frame(first, body)


CASES: list[tuple[str, int | None, bytes, int]] = [
    # Fixed header (MQTT-2.1.3-1, v3 MQTT-2.2.2-1/2)
    ("MQTT-2.2.2-1 reserved packet type 0", 4, b"\x00\x00", MALFORMED),
    ("MQTT-3.6.1-1 PUBREL flags not 0010", 5, b"\x60\x02\x00\x01", MALFORMED),
    ("MQTT-3.8.1-1 SUBSCRIBE flags not 0010", 4, b"\x80\x06\x00\x01" + s("a") + b"\x00", MALFORMED),
    ("MQTT-3.10.1-1 UNSUBSCRIBE flags not 0010", 5, b"\xa0\x06\x00\x01\x00" + s("a"), MALFORMED),
    ("MQTT-2.1.3-1 PINGREQ with a flag", 4, b"\xc1\x00", MALFORMED),
    ("MQTT-3.14.1-1 DISCONNECT reserved bits", 5, b"\xe2\x00", MALFORMED),
    ("MQTT-3.15.1-1 AUTH reserved bits", 5, b"\xf1\x00", MALFORMED),
    ("MQTT-3.3.1-4 PUBLISH QoS 3", 5, publish(b"a", first=0x36, extra=b"\x00\x01\x00"), MALFORMED),
    ("MQTT-3.3.1-2 DUP on QoS 0", 4, publish(b"a", first=0x38), MALFORMED),
    ("5.0 §2.1.4 Remaining Length of five bytes", 4, b"\x30\xff\xff\xff\xff\x01", MALFORMED),
    ("MQTT-1.5.5-1 padded Remaining Length", 5, b"\xc0\x80\x00", MALFORMED),
    ("MQTT-1.5.5-1 padded CONNECT Remaining Length", None, b"\x10\x80\x00", MALFORMED),
    ("MQTT-3.1.0-1 first packet is not CONNECT", None, b"\xc0\x00", PROTOCOL),
    ("3.1.1 §2.2.1 AUTH is reserved in 3.1.1", 4, b"\xf0\x00", MALFORMED),
    ("5.0 §3.1.2.11.4 packet too large", 4, publish(b"a", extra=b"x" * 600), TOO_LARGE),
    # CONNECT (§3.1)
    ("MQTT-3.1.2-1 protocol name is not MQTT", None, connect(name="MQTX"), UNSUPPORTED),
    ("v3 MQTT-3.1.2-2 MQTT 3.1 (MQIsdp, level 3)", None, connect(3, name="MQIsdp"), UNSUPPORTED),
    ("MQTT-3.1.2-2 unknown protocol level 6", None, connect(6), UNSUPPORTED),
    ("MQTT-3.1.2-3 reserved CONNECT flag", None, connect(flags=0x03), MALFORMED),
    ("MQTT-3.1.2-13 Will QoS without Will Flag", None, connect(4, flags=0x0A), MALFORMED),
    ("MQTT-3.1.2-15 Will Retain without Will Flag", None, connect(flags=0x22), MALFORMED),
    ("MQTT-3.1.2-14 Will QoS 3", None, connect(4, flags=0x1E), MALFORMED),
    ("v3 MQTT-3.1.2-22 password without user name", None, connect(4, flags=0x42), MALFORMED),
    (
        "v3 MQTT-3.1.3-8 empty ClientId with CleanSession 0",
        None,
        connect(4, flags=0x00, payload=s("")),
        CLIENT_ID,
    ),
    (
        "MQTT-3.1.3-9 Will Topic with a wildcard",
        None,
        connect(4, flags=0x06, payload=s("c") + s("a/#") + s(b"x")),
        TOPIC,
    ),
    (
        "5.0 §3.1.2.11.10 Authentication Data without Method",
        None,
        connect(properties=props(b"\x16" + s(b"k"))),
        PROTOCOL,
    ),
    (
        "5.0 §3.1.2.11.3 Receive Maximum 0",
        None,
        connect(properties=props(b"\x21\x00\x00")),
        PROTOCOL,
    ),
    ("MQTT-1.5.4-1 ill-formed UTF-8 ClientId", None, connect(4, payload=s(b"\xc3\x28")), MALFORMED),
    ("MQTT-1.5.4-2 U+0000 in the ClientId", None, connect(4, payload=s(b"a\x00b")), MALFORMED),
    (
        "MQTT-3.1.4-1 trailing bytes after the payload",
        None,
        connect(4, payload=s("c") + b"\x00"),
        MALFORMED,
    ),
    # PUBLISH (§3.3)
    ("MQTT-3.3.2-2 '+' in a topic name", 5, publish(b"a/+", extra=b"\x00"), TOPIC),
    ("v3 MQTT-4.7.1-1 '#' in a topic name", 4, publish(b"a/#"), TOPIC),
    ("5.0 §3.3.2.3.4 empty topic without Topic Alias", 5, publish(b"", extra=b"\x00"), PROTOCOL),
    ("v3 MQTT-4.7.3-1 empty topic name", 4, publish(b""), TOPIC),
    ("MQTT-4.7.3-2 U+0000 in a topic name", 4, publish(b"a\x00"), MALFORMED),
    ("MQTT-1.5.4-1 encoded surrogate in a topic", 4, publish(b"\xed\xa0\x80"), MALFORMED),
    ("MQTT-2.2.1-3 QoS 1 with Packet Identifier 0", 4, frame(0x32, s("a") + b"\x00\x00"), PROTOCOL),
    (
        "5.0 §3.3.2.3.2 Payload Format 1, payload not UTF-8",
        5,
        publish(b"a", extra=props(b"\x01\x01") + b"\xff\xfe"),
        PAYLOAD_FORMAT,
    ),
    (
        "5.0 §3.3.2.3.2 Payload Format Indicator 2",
        5,
        publish(b"a", extra=props(b"\x01\x02")),
        PROTOCOL,
    ),
    ("MQTT-3.3.2-8 Topic Alias 0", 5, publish(b"a", extra=props(b"\x23\x00\x00")), ALIAS),
    (
        "5.0 §2.2.2.2 property repeated",
        5,
        publish(b"a", extra=props(b"\x02\x00\x00\x00\x01", b"\x02\x00\x00\x00\x02")),
        PROTOCOL,
    ),
    (
        "5.0 §2.2.2.2 Session Expiry in a PUBLISH is a Malformed Packet",
        5,
        publish(b"a", extra=props(b"\x11\x00\x00\x00\x01")),
        MALFORMED,
    ),
    (
        "5.0 §2.2.2.2 unknown property identifier",
        5,
        publish(b"a", extra=props(b"\x7f\x00")),
        MALFORMED,
    ),
    (
        "5.0 §2.2.2.1 Property Length past the packet",
        5,
        publish(b"a", extra=b"\x05\x01"),
        MALFORMED,
    ),
    ("MQTT-1.5.5-1 padded Property Length", 5, publish(b"a", extra=b"\x80\x00"), MALFORMED),
    (
        "MQTT-3.3.2-14 Response Topic with a wildcard",
        5,
        publish(b"a", extra=props(b"\x08" + s("r/+"))),
        PROTOCOL,
    ),
    ("5.0 §1.5.4 string runs past the packet", 4, frame(0x30, b"\x00\x09abc"), MALFORMED),
    # SUBSCRIBE / UNSUBSCRIBE (§3.8, §3.10)
    (
        "v3 MQTT-2.3.1-1 SUBSCRIBE Packet Identifier 0",
        4,
        subscribe(b"\x00\x00" + s("a") + b"\x00"),
        PROTOCOL,
    ),
    ("v3 MQTT-3.8.3-3 SUBSCRIBE without a filter", 4, subscribe(b"\x00\x01"), PROTOCOL),
    ("MQTT-3.8.3-2 SUBSCRIBE without a filter", 5, subscribe(b"\x00\x01\x00"), PROTOCOL),
    ("MQTT-3.10.3-2 UNSUBSCRIBE without a filter", 5, frame(0xA2, b"\x00\x01\x00"), PROTOCOL),
    (
        "MQTT-3.8.3-5 reserved Subscription Options bits",
        5,
        subscribe(b"\x00\x01\x00" + s("a") + b"\x40"),
        MALFORMED,
    ),
    ("v3 MQTT-3.8.3-4 requested QoS 3", 4, subscribe(b"\x00\x01" + s("a") + b"\x03"), MALFORMED),
    (
        "v3 MQTT-3.8.3-4 reserved requested-QoS bits",
        4,
        subscribe(b"\x00\x01" + s("a") + b"\x04"),
        MALFORMED,
    ),
    ("5.0 §3.8.3.1 Retain Handling 3", 5, subscribe(b"\x00\x01\x00" + s("a") + b"\x30"), PROTOCOL),
    (
        "MQTT-3.8.3-4 No Local on a shared subscription",
        5,
        subscribe(b"\x00\x01\x00" + s("$share/g/a") + b"\x04"),
        PROTOCOL,
    ),
    ("MQTT-4.7.1-1 '#' not last", 4, subscribe(b"\x00\x01" + s("a/#/b") + b"\x00"), FILTER),
    (
        "MQTT-4.7.1-2 '+' not a whole level",
        5,
        subscribe(b"\x00\x01\x00" + s("a+") + b"\x00"),
        FILTER,
    ),
    ("MQTT-4.7.3-1 empty topic filter", 4, frame(0xA2, b"\x00\x01" + s("")), FILTER),
    (
        "MQTT-4.8.2-1 empty ShareName",
        5,
        subscribe(b"\x00\x01\x00" + s("$share//a") + b"\x00"),
        FILTER,
    ),
    (
        "MQTT-4.8.2-2 ShareName without a filter",
        5,
        subscribe(b"\x00\x01\x00" + s("$share/g") + b"\x00"),
        FILTER,
    ),
    (
        "5.0 §3.8.2.1.2 Subscription Identifier 0",
        5,
        subscribe(b"\x00\x01" + props(b"\x0b\x00") + s("a") + b"\x00"),
        PROTOCOL,
    ),
    (
        "5.0 §3.8.2.1.2 two Subscription Identifiers",
        5,
        subscribe(b"\x00\x01" + props(b"\x0b\x01", b"\x0b\x02") + s("a") + b"\x00"),
        PROTOCOL,
    ),
    # Acknowledgements, CONNACK, DISCONNECT, AUTH
    ("3.1.1 §3.4 trailing bytes in PUBACK", 4, b"\x40\x03\x00\x01\x00", MALFORMED),
    ("5.0 §3.12 PINGREQ with a body", 5, b"\xc0\x01\x00", MALFORMED),
    ("MQTT-3.4.2-1 PUBACK reason not in Table 3-4", 5, b"\x40\x03\x00\x01\x92", PROTOCOL),
    ("MQTT-3.14.2-1 DISCONNECT reason not in Table 3-10", 5, b"\xe0\x01\x05", PROTOCOL),
    ("MQTT-3.2.2-1 reserved CONNACK flags", 4, b"\x20\x02\x02\x00", MALFORMED),
    ("MQTT-3.2.2-6 Session Present with a refusal", 5, b"\x20\x03\x01\x87\x00", PROTOCOL),
    ("3.1.1 §3.2.2.3 reserved CONNACK return code 6", 4, b"\x20\x02\x00\x06", PROTOCOL),
    ("MQTT-3.9.3-1 SUBACK without reason codes", 4, b"\x90\x02\x00\x01", PROTOCOL),
    ("5.0 §3.15.2.1 AUTH with a reason but no Property Length", 5, b"\xf0\x01\x18", MALFORMED),
    ("MQTT-3.15.2-1 AUTH reason not in Table 3-11", 5, b"\xf0\x02\x87\x00", PROTOCOL),
]


@pytest.mark.parametrize(
    ("rule", "version", "wire", "reason"), CASES, ids=[case[0] for case in CASES]
)
def test_violation_is_refused_with_the_exact_reason_code(
    rule: str, version: int | None, wire: bytes, reason: int
) -> None:
    decoder = Decoder(512, version=version)
    with pytest.raises(RemoteProtocolError) as caught:
        decoder.feed(wire)
    assert caught.value.reason_code == reason, (rule, caught.value)
    assert caught.value.code.startswith("mqtt.")


def test_the_table_covers_at_least_25_distinct_violations() -> None:
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize(
    ("rule", "version", "wire", "reason"), CASES, ids=[case[0] for case in CASES]
)
def test_violation_is_refused_byte_by_byte_too(
    rule: str, version: int | None, wire: bytes, reason: int
) -> None:
    """Chunking must not change the verdict: feed one byte at a time."""
    decoder = Decoder(512, version=version)
    error: RemoteProtocolError | None = None
    for i in range(len(wire)):
        try:
            decoder.feed(wire[i : i + 1])
        except RemoteProtocolError as e:  # possibly before the last byte: refused early
            error = e
            break
    assert error is not None, rule
    assert error.reason_code == reason, rule


_V311 = [case for case in CASES if case[1] == 4]


@pytest.mark.parametrize(
    ("rule", "version", "wire", "reason"), _V311, ids=[case[0] for case in _V311]
)
def test_v311_violations_after_connect_just_close(
    rule: str, version: int | None, wire: bytes, reason: int
) -> None:
    """v3 MQTT-4.8.0-1: a 3.1.1 server closes the connection and sends nothing."""
    del version, reason
    conn = ServerConnection(max_packet_size=512)
    conn.receive_data(encode(Connect("c", 4), 4), now=0.0)
    conn.next_packet()
    conn.send(Connack())
    conn.receive_data(wire, now=1.0)
    with pytest.raises(MqttError) as caught:
        conn.next_packet()
    assert conn.fail(caught.value) == b"", rule


@pytest.mark.parametrize(
    ("wire", "answer"),
    [
        (connect(3, name="MQIsdp"), b"\x20\x02\x00\x01"),  # v3 MQTT-3.1.2-2: return code 1
        (connect(4, flags=0x00, payload=s("")), b"\x20\x02\x00\x02"),  # v3 MQTT-3.1.3-8
        (connect(4, flags=0x03), b""),  # malformed: close without CONNACK
        (connect(6), b"\x20\x03\x00\x84\x00"),  # MQTT-3.1.2-2: 0x84 in an MQTT 5 CONNACK
        (connect(5, flags=0x03), b"\x20\x03\x00\x81\x00"),  # 5.0 §4.13: CONNACK 0x81
        (b"\xc0\x00", b""),  # MQTT-3.1.0-1: nothing known about the client, just close
    ],
)
def test_connect_refusals_are_answered_in_the_clients_own_format(
    wire: bytes, answer: bytes
) -> None:
    conn = ServerConnection(max_packet_size=512)
    conn.receive_data(wire, now=0.0)
    with pytest.raises(RemoteProtocolError) as caught:
        conn.next_packet()
    assert conn.fail(caught.value) == answer
