"""The codec: wire layouts, the streaming decoder's framing and bounds, local errors."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    Auth,
    Connack,
    Connect,
    Decoder,
    Disconnect,
    LocalProtocolError,
    MalformedPacketError,
    Packet,
    PacketTooLargeError,
    Pingreq,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    RemoteProtocolError,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
    encode,
    encode_publish_parts,
)

GOLDEN: list[tuple[str, Packet, int, bytes]] = [
    ("PINGREQ", Pingreq(), 4, b"\xc0\x00"),
    ("3.1.1 DISCONNECT", Disconnect(), 4, b"\xe0\x00"),
    (
        "3.1.1 CONNECT",
        Connect("c", 4, keep_alive=60),
        4,
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c",
    ),
    (
        "5.0 CONNECT",
        Connect("c", 5, keep_alive=60),
        5,
        b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01c",
    ),
    ("3.1.1 CONNACK session present", Connack(True), 4, b"\x20\x02\x01\x00"),
    ("5.0 CONNACK", Connack(), 5, b"\x20\x03\x00\x00\x00"),
    (
        "3.1.1 PUBLISH QoS 1",
        Publish("a/b", b"hi", 1, packet_id=10),
        4,
        b"\x32\x09\x00\x03a/b\x00\x0ahi",
    ),
    ("5.0 PUBLISH QoS 0 retained", Publish("a", b"", 0, retain=True), 5, b"\x31\x04\x00\x01a\x00"),
    (
        "5.0 PUBLISH with Topic Alias only",
        Publish("", b"x", properties=Properties(topic_alias=2)),
        5,
        b"\x30\x07\x00\x00\x03\x23\x00\x02x",
    ),
    # 5.0 §3.4.2.1: Remaining Length 2 means Success with no properties.
    ("5.0 PUBACK short form", Puback(7), 5, b"\x40\x02\x00\x07"),
    ("5.0 PUBREC reason only", Pubrec(7, 0x10), 5, b"\x50\x03\x00\x07\x10"),
    ("5.0 PUBREL", Pubrel(7), 5, b"\x62\x02\x00\x07"),
    (
        "5.0 PUBCOMP with reason string",
        Pubcomp(7, 0x92, Properties(reason_string="r")),
        5,
        b"\x70\x08\x00\x07\x92\x04\x1f\x00\x01r",
    ),
    (
        "3.1.1 SUBSCRIBE",
        Subscribe(1, [Subscription("a/+", 2)]),
        4,
        b"\x82\x08\x00\x01\x00\x03a/+\x02",
    ),
    (
        "5.0 SUBSCRIBE options",
        Subscribe(1, [Subscription("a", 1, True, True, 2)]),
        5,
        b"\x82\x07\x00\x01\x00\x00\x01a\x2d",
    ),
    ("3.1.1 SUBACK failure", Suback(1, [0, 0x80]), 4, b"\x90\x04\x00\x01\x00\x80"),
    ("5.0 UNSUBSCRIBE", Unsubscribe(3, ["a"]), 5, b"\xa2\x06\x00\x03\x00\x00\x01a"),
    ("3.1.1 UNSUBACK", Unsuback(3), 4, b"\xb0\x02\x00\x03"),
    ("5.0 UNSUBACK", Unsuback(3, [0x11]), 5, b"\xb0\x04\x00\x03\x00\x11"),
    ("5.0 DISCONNECT reason only", Disconnect(0x04), 5, b"\xe0\x01\x04"),
    ("5.0 AUTH success, both fields omitted", Auth(), 5, b"\xf0\x00"),
]


@pytest.mark.parametrize(("name", "packet", "version", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_wire_layouts(name: str, packet: Packet, version: int, wire: bytes) -> None:
    assert encode(packet, version) == wire, name
    decoder = Decoder(1024, version=None if isinstance(packet, Connect) else version)
    assert decoder.feed(wire) == [packet]


def test_v5_ack_and_disconnect_short_forms_decode_to_defaults() -> None:
    """5.0 §3.4.2.2.1, §3.14.2.1: missing reason code means 0x00, missing properties none."""
    decoder = Decoder(64, version=5)
    assert decoder.feed(b"\x40\x02\x00\x01\x50\x03\x00\x01\x10\xe0\x00") == [
        Puback(1),
        Pubrec(1, 0x10),
        Disconnect(),
    ]


def test_v311_encoding_omits_v5_fields() -> None:
    props = Properties(reason_string="no", user_properties=(("k", "v"),))
    assert encode(Puback(1, 0x10, props), 4) == b"\x40\x02\x00\x01"
    assert encode(Disconnect(0x8E, props), 4) == b"\xe0\x00"
    assert encode(Unsuback(1, [0x11], props), 4) == b"\xb0\x02\x00\x01"
    assert encode(Publish("t", b"", properties=Properties(content_type="x")), 4) == (
        b"\x30\x03\x00\x01t"
    )
    sub = Subscribe(2, [Subscription("a", 1, no_local=True, retain_handling=2)])
    assert encode(sub, 4) == b"\x82\x06\x00\x02\x00\x01a\x01"


@pytest.mark.parametrize(
    ("reason", "return_code"),
    [
        (0x00, 0),
        (0x84, 1),
        (0x85, 2),
        (0x88, 3),
        (0x89, 3),
        (0x86, 4),
        (0x87, 5),
        (0x8A, 5),
        (0x97, 3),
    ],
)
def test_v311_connack_speaks_mqtt5_reason_codes(reason: int, return_code: int) -> None:
    """3.1.1 §3.2.2.3 return codes are translated at the wire."""
    assert encode(Connack(reason_code=reason), 4) == bytes((0x20, 2, 0, return_code))


def test_v311_suback_has_a_single_failure_code() -> None:
    assert encode(Suback(1, [0x87, 0x02]), 4) == b"\x90\x04\x00\x01\x80\x02"


def test_decoder_learns_the_version_from_connect_mid_buffer() -> None:
    """The packets after a v5 CONNECT in the same read are decoded as v5."""
    wire = encode(Connect("c", 5), 5) + encode(Puback(1, 0x10), 5)
    decoder = Decoder(256)
    assert decoder.version is None
    assert decoder.feed(wire) == [Connect("c", 5), Puback(1, 0x10)]
    assert decoder.version == 5


def test_a_second_connect_does_not_change_the_version() -> None:
    decoder = Decoder(256)
    decoder.feed(encode(Connect("c", 5), 5))
    assert decoder.feed(encode(Connect("c", 4), 4)) == [Connect("c", 4)]
    assert decoder.version == 5


def test_connect_announcing_300_mb_is_refused_before_its_body() -> None:
    """5.0 §3.1.2.11.4: refuse at once (0x95) without buffering the body."""
    decoder = Decoder(1 << 20)
    header = b"\x10" + bytes((0x80, 0xC6, 0xA7, 0x01))  # 300 MB
    for byte in header[:-1]:
        assert decoder.feed(bytes((byte,))) == []
    with pytest.raises(PacketTooLargeError) as caught:
        decoder.feed(header[-1:])
    assert caught.value.reason_code == 0x95
    assert decoder.buffered == 0
    assert caught.value.protocol_version is None


def test_too_large_connect_reports_its_version_when_already_readable() -> None:
    """So the server can answer in the client's format (CONNACK 0x95 for MQTT 5)."""
    decoder = Decoder(64)
    with pytest.raises(PacketTooLargeError) as caught:
        decoder.feed(b"\x10\xff\x01\x00\x04MQTT\x05\x02")
    assert caught.value.protocol_version == 5
    decoder = Decoder(64)
    decoder.feed(b"\x10\xff")
    with pytest.raises(PacketTooLargeError) as caught:
        decoder.feed(b"\x01\x00\x04MQTT\x04")
    assert caught.value.protocol_version == 4


def test_the_maximum_counts_the_whole_packet() -> None:
    """5.0 §3.1.2.11.4: Maximum Packet Size includes the fixed header."""
    wire = encode(Publish("t", b"x" * 10), 4)
    assert Decoder(len(wire), version=4).feed(wire) == [Publish("t", b"x" * 10)]
    with pytest.raises(PacketTooLargeError):
        Decoder(len(wire) - 1, version=4).feed(wire)


def test_partial_packets_are_buffered_and_bounded() -> None:
    wire = encode(Publish("t", b"x" * 100), 4)
    decoder = Decoder(200, version=4)
    assert decoder.feed(wire[:50]) == []
    assert decoder.buffered == 50
    assert decoder.feed(wire[50:] + wire[:3]) == [Publish("t", b"x" * 100)]
    assert decoder.buffered == 3
    assert decoder.feed(wire[3:]) == [Publish("t", b"x" * 100)]
    assert decoder.buffered == 0


def test_feed_accepts_any_bytes_like() -> None:
    decoder = Decoder(64, version=4)
    assert decoder.feed(bytearray(b"\xc0\x00")) == [Pingreq()]
    assert decoder.feed(memoryview(b"\xc0\x00")) == [Pingreq()]


def test_v311_accepts_a_padded_remaining_length() -> None:
    """3.1.1 §2.2.3 has no minimal-encoding rule; MQTT-1.5.5-1 is MQTT 5 only."""
    assert Decoder(64, version=4).feed(b"\xc0\x80\x00") == [Pingreq()]


def test_a_failed_decoder_refuses_further_input() -> None:
    decoder = Decoder(64, version=4)
    with pytest.raises(MalformedPacketError):
        decoder.feed(b"\x00\x00")
    with pytest.raises(LocalProtocolError):
        decoder.feed(b"\xc0\x00")


def test_feed_into_keeps_the_packets_before_an_error() -> None:
    decoder = Decoder(64, version=4)
    out: list[Packet] = []
    with pytest.raises(RemoteProtocolError):
        decoder.feed_into(b"\xc0\x00\xc0\x00\x00\x00", out)
    assert out == [Pingreq(), Pingreq()]


@pytest.mark.parametrize("size", [0, 1, 268_435_461])
def test_max_packet_size_is_bounded(size: int) -> None:
    with pytest.raises(LocalProtocolError):
        Decoder(size)


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        Decoder(64, version=3)
    with pytest.raises(LocalProtocolError):
        encode(Pingreq(), 3)
    with pytest.raises(LocalProtocolError):
        encode_publish_parts(Publish("t"), 6)
    with pytest.raises(LocalProtocolError):
        encode("not a packet", 4)  # type: ignore[arg-type]


def test_publish_parts_share_the_payload_object() -> None:
    payload = b"x" * 1000
    head, body = encode_publish_parts(Publish("t", payload, 1, packet_id=9), 5)
    assert body is payload
    assert head + body == encode(Publish("t", payload, 1, packet_id=9), 5)


def test_publish_fast_path_and_general_path_agree() -> None:
    """Properties send a v5 PUBLISH down the general path; the results must match."""
    decoder = Decoder(1024, version=5)
    plain = Publish("a/b", b"p", 2, True, True, 5)
    rich = Publish("a/b", b"p", 2, True, True, 5, Properties(content_type="c"))
    assert decoder.feed(encode(plain, 5) + encode(rich, 5)) == [plain, rich]
    [again] = decoder.feed(encode(plain, 5))
    assert isinstance(again, Publish)
    assert again.properties is EMPTY_PROPERTIES


def test_decoded_topics_are_shared_string_objects() -> None:
    decoder = Decoder(1024, version=4)
    first, second = decoder.feed(encode(Publish("x/shared"), 4) * 2)
    assert first.topic is second.topic  # type: ignore[union-attr]


LOCAL_ERRORS: list[tuple[str, Packet, int]] = [
    ("MQTT-3.3.1-4 QoS 3", Publish("t", qos=3, packet_id=1), 4),
    ("MQTT-3.3.1-2 DUP on QoS 0", Publish("t", dup=True), 4),
    ("MQTT-2.2.1-2 packet id on QoS 0", Publish("t", packet_id=3), 5),
    ("MQTT-2.2.1-3 packet id 0 on QoS 1", Publish("t", qos=1), 5),
    ("MQTT-2.2.1-3 packet id above 65535", Puback(65_536), 4),
    ("MQTT-3.3.2-2 wildcard topic", Publish("a/+"), 4),
    ("MQTT-4.7.3-1 empty topic", Publish(""), 5),
    ("3.1.1 has no Topic Alias", Publish("", properties=Properties(topic_alias=1)), 4),
    ("MQTT-1.5.4-1 surrogate in topic", Publish("\ud800"), 4),
    ("MQTT-3.8.3-2 SUBSCRIBE without filters", Subscribe(1, []), 5),
    ("MQTT-4.7.1-1 bad filter", Subscribe(1, [Subscription("a/#/b")]), 4),
    ("5.0 §3.8.3.1 Retain Handling 3", Subscribe(1, [Subscription("a", retain_handling=3)]), 5),
    ("MQTT-3.8.3-4 No Local shared", Subscribe(1, [Subscription("$share/g/a", no_local=True)]), 5),
    ("MQTT-3.10.3-2 UNSUBSCRIBE without filters", Unsubscribe(1, []), 4),
    ("MQTT-3.8.4-6 SUBACK without codes", Suback(1, []), 4),
    ("3.1.1 SUBACK code without a 3.1.1 form", Suback(1, [0x11]), 4),
    ("MQTT-3.9.3-2 SUBACK code not in Table 3-8", Suback(1, [0x10]), 5),
    ("MQTT-3.11.3-1 UNSUBACK without codes", Unsuback(1), 5),
    ("MQTT-3.4.2-1 PUBACK code not in Table 3-4", Puback(1, 0x92), 5),
    ("MQTT-3.14.2-1 DISCONNECT code", Disconnect(0x01), 5),
    ("MQTT-3.15.2-1 AUTH code", Auth(0x87), 5),
    ("3.1.1 has no AUTH", Auth(), 4),
    ("MQTT-3.2.2-8 CONNACK code", Connack(reason_code=0x10), 5),
    ("3.1.1 CONNACK code without a 3.1.1 form", Connack(reason_code=0x10), 4),
    ("MQTT-3.2.2-6 Session Present with refusal", Connack(True, 0x87), 5),
    ("CONNECT protocol_version differs", Connect("c", 5), 4),
    ("v3 MQTT-3.1.2-22 password without user", Connect("c", 4, password=b"p"), 4),
    ("v3 MQTT-3.1.3-7 empty ClientId, CleanSession 0", Connect("", 4, clean_start=False), 4),
    ("MQTT-3.1.2-14 Will QoS 3", Connect("c", 4, will=Will("t", qos=3)), 4),
    ("MQTT-3.1.3-9 Will Topic wildcard", Connect("c", 4, will=Will("t/#")), 4),
    ("Keep Alive out of range", Connect("c", 4, keep_alive=70_000), 4),
    (
        "5.0 §3.1.2.11.10 auth data without method",
        Connect("c", 5, properties=Properties(authentication_data=b"x")),
        5,
    ),
]


@pytest.mark.parametrize(
    ("rule", "packet", "version"), LOCAL_ERRORS, ids=[e[0] for e in LOCAL_ERRORS]
)
def test_we_refuse_to_send_illegal_packets(rule: str, packet: Packet, version: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode(packet, version)


def test_v5_clients_may_send_a_password_without_a_user_name() -> None:
    """MQTT 5 dropped v3 MQTT-3.1.2-22 (5.0 §3.1.2.9)."""
    packet = Connect("c", 5, password=b"token")
    assert Decoder(128).feed(encode(packet, 5)) == [packet]
