"""MQTT 5.0 properties (5.0 §2.2.2, Table 2-4)."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    LocalProtocolError,
    MalformedPacketError,
    PacketType,
    Properties,
    PropertyId,
    RemoteProtocolError,
    TopicAliasInvalidError,
)
from fleetward.mqtt.properties import PROPERTY_SPECS, WILL_PROPERTIES
from fleetward.mqtt.property_codec import decode_properties, encode_properties

P = PacketType


def test_the_table_has_every_property_of_table_2_4_once() -> None:
    assert sorted(spec.identifier for spec in PROPERTY_SPECS) == sorted(PropertyId)
    assert {spec.name for spec in PROPERTY_SPECS} == set(Properties._fields)


def test_only_user_property_and_subscription_identifier_repeat() -> None:
    repeatable = {spec.identifier for spec in PROPERTY_SPECS if spec.repeatable}
    assert repeatable == {PropertyId.USER_PROPERTY, PropertyId.SUBSCRIPTION_IDENTIFIER}


def test_mqtt_2_2_2_1_no_properties_is_a_zero_length_and_the_shared_empty_object() -> None:
    assert encode_properties(EMPTY_PROPERTIES, P.PUBLISH) == b"\x00"
    assert encode_properties(Properties(), P.PUBLISH) == b"\x00"
    decoded, end = decode_properties(b"\x00", 0, 1, P.PUBLISH)
    assert decoded is EMPTY_PROPERTIES
    assert end == 1


def test_properties_are_immutable_so_the_empty_one_can_be_shared() -> None:
    with pytest.raises(AttributeError):
        EMPTY_PROPERTIES.topic_alias = 3  # type: ignore[misc]
    assert EMPTY_PROPERTIES._replace(topic_alias=3).topic_alias == 3
    assert EMPTY_PROPERTIES.topic_alias is None


def test_user_properties_keep_order_and_duplicates() -> None:
    """5.0 §3.3.2.3.7: the same name may appear more than once; order is kept."""
    props = Properties(user_properties=(("k", "1"), ("a", "2"), ("k", "3")))
    wire = encode_properties(props, P.PUBLISH)
    assert decode_properties(wire, 0, len(wire), P.PUBLISH)[0] == props


def test_mqtt_3_3_4_4_several_subscription_identifiers_in_a_publish() -> None:
    props = Properties(subscription_identifiers=(1, 268_435_455))
    wire = encode_properties(props, P.PUBLISH)
    assert decode_properties(wire, 0, len(wire), P.PUBLISH)[0] == props


def test_one_subscription_identifier_only_in_subscribe() -> None:
    with pytest.raises(LocalProtocolError):
        encode_properties(Properties(subscription_identifiers=(1, 2)), P.SUBSCRIBE)


def test_repr_hides_authentication_data_and_absent_fields() -> None:
    text = repr(Properties(authentication_method="SCRAM", authentication_data=b"secret"))
    assert "secret" not in text
    assert text == "Properties(authentication_method='SCRAM', authentication_data=<redacted>)"


@pytest.mark.parametrize(
    ("props", "packet_type"),
    [
        (Properties(session_expiry_interval=1), P.PUBLISH),
        (Properties(topic_alias=1), P.CONNECT),
        (Properties(will_delay_interval=1), P.CONNECT),
        (Properties(reason_string="x"), P.PUBLISH),
        (Properties(maximum_qos=1), P.CONNECT),
        (Properties(user_properties=(("a", "b"),)), P.PINGREQ),
    ],
)
def test_a_property_outside_its_packets_is_refused_both_ways(
    props: Properties, packet_type: int
) -> None:
    with pytest.raises(LocalProtocolError, match="not allowed"):
        encode_properties(props, packet_type)
    # Encode for a packet that allows it, then decode as the wrong packet.
    allowed = next(
        spec.packets for spec in PROPERTY_SPECS if getattr(props, spec.name) not in (None, ())
    )
    wire = encode_properties(props, min(allowed))
    with pytest.raises(RemoteProtocolError, match="not allowed") as caught:
        decode_properties(wire, 0, len(wire), packet_type)
    assert caught.value.reason_code == 0x81  # 5.0 §2.2.2.2: Malformed Packet


@pytest.mark.parametrize(
    "props",
    [
        Properties(payload_format_indicator=2),
        Properties(subscription_identifiers=(0,)),
        Properties(response_topic="a/#"),
        Properties(response_topic=""),
        Properties(message_expiry_interval=1 << 32),
        Properties(content_type=3),  # type: ignore[arg-type]
        Properties(topic_alias=0),
    ],
)
def test_out_of_range_values_are_local_errors(props: Properties) -> None:
    with pytest.raises(LocalProtocolError):
        encode_properties(props, P.PUBLISH)


@pytest.mark.parametrize(
    ("wire", "packet_type", "error", "reason"),
    [
        (b"\x02\x21\x00", P.CONNECT, MalformedPacketError, 0x81),  # Receive Maximum truncated
        (b"\x03\x21\x00\x00", P.CONNECT, RemoteProtocolError, 0x82),  # Receive Maximum 0
        (b"\x05\x27\x00\x00\x00\x00", P.CONNECT, RemoteProtocolError, 0x82),  # Max Packet 0
        (b"\x02\x17\x02", P.CONNECT, RemoteProtocolError, 0x82),  # Request Problem Info 2
        (b"\x02\x24\x02", P.CONNACK, RemoteProtocolError, 0x82),  # Maximum QoS 2
        (b"\x02\x25\x07", P.CONNACK, RemoteProtocolError, 0x82),  # Retain Available 7
        (b"\x03\x23\x00\x00", P.PUBLISH, TopicAliasInvalidError, 0x94),  # MQTT-3.3.2-8
        (b"\x02\x80\x01", P.PUBLISH, MalformedPacketError, 0x81),  # unknown identifier
        (b"\x01\x01", P.PUBLISH, MalformedPacketError, 0x81),  # byte property truncated
        (b"\x04\x26\x00\x01a", P.PUBLISH, MalformedPacketError, 0x81),  # pair truncated
        (b"\x03\x09\x00\x05", P.PUBLISH, MalformedPacketError, 0x81),  # binary truncated
        (b"\x04\x02\x00\x00\x01", P.PUBLISH, MalformedPacketError, 0x81),  # uint32 truncated
        (b"\x04\x18\x00\x00\x00\x01", WILL_PROPERTIES, MalformedPacketError, 0x81),  # length
    ],
)
def test_bad_property_bytes(
    wire: bytes, packet_type: int, error: type[Exception], reason: int
) -> None:
    with pytest.raises(error) as caught:
        decode_properties(wire, 0, len(wire), packet_type)
    assert getattr(caught.value, "reason_code", None) == reason


def test_will_properties_are_their_own_set() -> None:
    props = Properties(will_delay_interval=5, payload_format_indicator=1, content_type="t")
    wire = encode_properties(props, WILL_PROPERTIES)
    assert decode_properties(wire, 0, len(wire), WILL_PROPERTIES)[0] == props
