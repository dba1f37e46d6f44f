"""The server-side connection machine, driven as a broker would drive it."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    TRANSITIONS,
    Auth,
    Connack,
    Connect,
    ConnectionState,
    Disconnect,
    LocalProtocolError,
    Packet,
    PeerPacketTooLargeError,
    Pingreq,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    RemoteProtocolError,
    Sender,
    ServerConnection,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
    encode,
)

S = ConnectionState


def connected(
    version: int = 5,
    connect_props: Properties = EMPTY_PROPERTIES,
    connack_props: Properties = EMPTY_PROPERTIES,
    keep_alive: int = 0,
) -> ServerConnection:
    conn = ServerConnection(max_packet_size=4096, now=0.0)
    conn.receive_data(
        encode(Connect("c", version, keep_alive=keep_alive, properties=connect_props), version), 0.0
    )
    assert isinstance(conn.next_packet(), Connect)
    assert conn.state is S.AUTHENTICATING
    conn.send(Connack(properties=connack_props))
    assert conn.state.value == "connected"
    return conn


def receive(conn: ServerConnection, *packets: Packet, now: float = 1.0) -> list[Packet]:
    version = conn.version
    assert version is not None
    conn.receive_data(b"".join(encode(p, version) for p in packets), now)
    out = []
    while (packet := conn.next_packet()) is not None:
        out.append(packet)
    return out


def refused(conn: ServerConnection, *packets: Packet) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as caught:
        receive(conn, *packets)
    assert conn.state is S.CLOSED
    return caught.value


# -- ordering (MQTT-3.1.0-1/2, MQTT-3.2.0-1/2) ---------------------------------------


def test_mqtt_3_1_0_1_nothing_before_connect() -> None:
    conn = ServerConnection(max_packet_size=64)
    conn.receive_data(b"\xc0\x00", 0.0)
    with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.0-1") as caught:
        conn.next_packet()
    assert caught.value.reason_code == 0x82
    assert conn.fail(caught.value) == b""


@pytest.mark.parametrize("version", [4, 5])
def test_mqtt_3_1_0_2_a_second_connect_is_a_protocol_error(version: int) -> None:
    conn = connected(version)
    error = refused(conn, Connect("c", version))
    assert "MQTT-3.1.0-2" in str(error)
    assert error.reason_code == 0x82
    assert conn.fail(error) == (b"\xe0\x01\x82" if version == 5 else b"")


@pytest.mark.parametrize(
    "packet",
    [Connack(), Suback(1, [0]), Unsuback(1, [0]), Pingresp()],
    ids=lambda p: type(p).__name__,
)
def test_packets_only_a_server_sends_are_protocol_errors_from_a_client(packet: Packet) -> None:
    error = refused(connected(), packet)
    assert error.reason_code == 0x82
    assert "never sends" in str(error)


def test_pipelined_packets_wait_for_the_connack() -> None:
    """A client need not wait for CONNACK; the server must not act before it (MQTT-3.1.4-6)."""
    conn = ServerConnection(max_packet_size=4096)
    conn.receive_data(encode(Connect("c", 5), 5) + encode(Publish("t", b"1"), 5), 0.0)
    assert isinstance(conn.next_packet(), Connect)
    assert conn.next_packet() is None  # held
    conn.send(Connack())
    assert conn.next_packet() == Publish("t", b"1")


def test_mqtt_3_1_4_6_nothing_is_processed_after_a_refused_connect() -> None:
    conn = ServerConnection(max_packet_size=4096)
    conn.receive_data(encode(Connect("c", 4), 4) + encode(Publish("t", b"1"), 4), 0.0)
    conn.next_packet()
    assert conn.send(Connack(reason_code=0x86)) == b"\x20\x02\x00\x04"
    assert conn.state is S.CLOSED
    assert conn.next_packet() is None
    conn.receive_data(encode(Pingreq(), 4), 1.0)
    assert conn.next_packet() is None


def test_packets_before_a_decoding_error_are_delivered_first() -> None:
    conn = connected(4)
    conn.receive_data(encode(Publish("t", b"ok"), 4) + b"\x00\x00", 1.0)
    assert conn.next_packet() == Publish("t", b"ok")
    with pytest.raises(RemoteProtocolError):
        conn.next_packet()


@pytest.mark.parametrize(
    ("packet", "rule"),
    [
        (Publish("t"), "MQTT-3.2.0-1"),
        (Suback(1, [0]), "MQTT-3.2.0-1"),
        (Disconnect(), "MQTT-3.14.0-1"),
    ],
)
def test_a_server_sends_nothing_but_auth_before_connack(packet: Packet, rule: str) -> None:
    conn = ServerConnection(max_packet_size=4096)
    conn.receive_data(encode(Connect("c", 5), 5), 0.0)
    conn.next_packet()
    with pytest.raises(LocalProtocolError, match=rule):
        conn.send(packet)
    assert conn.state is S.AUTHENTICATING  # nothing changed


def test_mqtt_3_2_0_2_only_one_connack() -> None:
    with pytest.raises(LocalProtocolError):
        connected().send(Connack())


def test_a_server_never_sends_client_packets() -> None:
    conn = connected()
    for packet in (
        Connect("c", 5),
        Subscribe(1, [Subscription("a")]),
        Unsubscribe(1, ["a"]),
        Pingreq(),
    ):
        with pytest.raises(LocalProtocolError):
            conn.send(packet)


def test_a_3_1_1_server_never_sends_disconnect() -> None:
    with pytest.raises(LocalProtocolError, match=r"3\.1\.1"):
        connected(4).send(Disconnect())


def test_disconnect_ends_the_connection_both_ways() -> None:
    conn = connected()
    assert receive(conn, Disconnect(0x04)) == [Disconnect(0x04)]
    assert conn.state is S.CLOSED
    conn.receive_data(encode(Pingreq(), 5), 2.0)  # MQTT-3.14.4-1: nothing after
    assert conn.next_packet() is None
    with pytest.raises(LocalProtocolError):
        conn.send(Pingresp())
    server = connected()
    assert server.send(Disconnect(0x8B)) == b"\xe0\x01\x8b"
    assert server.state is S.CLOSED
    assert server.fail(RemoteProtocolError("late")) == b""


def test_a_normal_exchange() -> None:
    conn = connected(4)
    got = receive(
        conn,
        Subscribe(1, [Subscription("a/#", 1)]),
        Publish("a/b", b"x", 1, packet_id=2),
        Pingreq(),
        Unsubscribe(3, ["a/#"]),
        Pubrel(4),
    )
    assert [type(p).__name__ for p in got] == [
        "Subscribe",
        "Publish",
        "Pingreq",
        "Unsubscribe",
        "Pubrel",
    ]
    assert conn.send(Suback(1, [1])) == b"\x90\x03\x00\x01\x01"
    assert conn.send(Puback(2)) == b"\x40\x02\x00\x02"
    assert conn.send(Pingresp()) == b"\xd0\x00"
    assert conn.send(Unsuback(3)) == b"\xb0\x02\x00\x03"
    assert conn.send(Pubcomp(4)) == b"\x70\x02\x00\x04"


# -- client DISCONNECT (5.0 §3.14) ----------------------------------------------------


def test_client_may_not_use_server_disconnect_reasons() -> None:
    assert refused(connected(), Disconnect(0x8E)).reason_code == 0x82


def test_session_expiry_cannot_be_set_on_disconnect_after_zero_on_connect() -> None:
    """5.0 §3.14.2.2.2."""
    refused(connected(), Disconnect(properties=Properties(session_expiry_interval=60)))
    conn = connected(connect_props=Properties(session_expiry_interval=10))
    assert receive(conn, Disconnect(properties=Properties(session_expiry_interval=60)))


def test_mqtt_3_14_2_2_server_disconnect_has_no_session_expiry() -> None:
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.14\.2-2"):
        connected().send(Disconnect(properties=Properties(session_expiry_interval=1)))


# -- topic aliases (5.0 §3.3.2.3.4) ---------------------------------------------------


def alias(n: int, topic: str = "") -> Publish:
    return Publish(topic, b"x", properties=Properties(topic_alias=n))


def test_topic_aliases_are_resolved_and_stripped() -> None:
    conn = connected(connack_props=Properties(topic_alias_maximum=2))
    got = receive(conn, alias(1, "a/b"), alias(1), alias(2, "c"), alias(1, "d"), alias(1))
    assert [p.topic for p in got] == ["a/b", "a/b", "c", "d", "d"]  # type: ignore[union-attr]
    assert all(p.properties is EMPTY_PROPERTIES for p in got)  # type: ignore[union-attr]


def test_other_properties_survive_alias_resolution() -> None:
    conn = connected(connack_props=Properties(topic_alias_maximum=1))
    [got] = receive(conn, Publish("t", properties=Properties(topic_alias=1, content_type="c")))
    assert got.properties == Properties(content_type="c")  # type: ignore[union-attr]


def test_an_alias_above_the_announced_maximum_is_0x94() -> None:
    """MQTT-3.2.2-17/18: with no Topic Alias Maximum, no alias at all."""
    assert refused(connected(), alias(1, "t")).reason_code == 0x94
    conn = connected(connack_props=Properties(topic_alias_maximum=3))
    assert refused(conn, alias(4, "t")).reason_code == 0x94


def test_an_unknown_alias_with_an_empty_topic_is_0x82() -> None:
    conn = connected(connack_props=Properties(topic_alias_maximum=3))
    error = refused(conn, alias(2))
    assert error.reason_code == 0x82
    assert conn.fail(error) == b"\xe0\x01\x82"


def test_mqtt_3_3_2_11_we_send_aliases_only_within_the_clients_maximum() -> None:
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.3\.2-11"):
        connected().send(alias(1, "t"))
    conn = connected(connect_props=Properties(topic_alias_maximum=1))
    assert conn.send(alias(1, "t"))


# -- flow control (5.0 §4.9) ----------------------------------------------------------


def test_mqtt_3_3_4_7_receive_maximum_is_enforced_with_0x93() -> None:
    conn = connected(connack_props=Properties(receive_maximum=2))
    receive(conn, Publish("t", qos=1, packet_id=1), Publish("t", qos=2, packet_id=2))
    # A re-delivery of an unacknowledged id does not take another slot.
    receive(conn, Publish("t", qos=1, dup=True, packet_id=1))
    error = refused(conn, Publish("t", qos=1, packet_id=3))
    assert error.reason_code == 0x93


def test_receive_slots_free_on_puback_pubcomp_and_refusing_pubrec() -> None:
    conn = connected(connack_props=Properties(receive_maximum=1))
    receive(conn, Publish("t", qos=1, packet_id=1))
    conn.send(Puback(1))
    receive(conn, Publish("t", qos=2, packet_id=2))
    conn.send(Pubrec(2))  # QoS 2 still in flight until PUBCOMP
    with pytest.raises(RemoteProtocolError):
        receive(conn, Publish("t", qos=1, packet_id=3))
    conn = connected(connack_props=Properties(receive_maximum=1))
    receive(conn, Publish("t", qos=2, packet_id=2))
    conn.send(Pubrec(2))
    receive(conn, Pubrel(2))
    conn.send(Pubcomp(2))
    receive(conn, Publish("t", qos=2, packet_id=3))
    conn.send(Pubrec(3, 0x80))  # a refusal ends the exchange
    assert receive(conn, Publish("t", qos=1, packet_id=4))


def test_qos_0_does_not_count_and_3_1_1_has_no_receive_maximum() -> None:
    conn = connected(connack_props=Properties(receive_maximum=1))
    assert len(receive(conn, *[Publish("t") for _ in range(5)])) == 5
    conn = connected(4)
    assert len(receive(conn, *[Publish("t", qos=1, packet_id=i) for i in range(1, 100)])) == 99


def test_mqtt_3_3_4_9_our_send_quota_follows_the_clients_receive_maximum() -> None:
    conn = connected(connect_props=Properties(receive_maximum=2))
    assert conn.send_quota == 2
    conn.send(Publish("t", qos=1, packet_id=1))
    conn.send(Publish("t", qos=2, packet_id=2))
    assert conn.send_quota == 0
    conn.send(Publish("t", qos=1, dup=True, packet_id=1))  # re-delivery is allowed
    conn.send(Publish("t"))  # QoS 0 is not limited
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.3\.4-9"):
        conn.send(Publish("t", qos=1, packet_id=3))
    receive(conn, Puback(1))
    assert conn.send_quota == 1
    receive(conn, Pubrec(2))
    assert conn.send_quota == 1
    receive(conn, Pubcomp(2))
    assert conn.send_quota == 2
    conn.send(Publish("t", qos=2, packet_id=5))
    receive(conn, Pubrec(5, 0x87))
    assert conn.send_quota == 2


# -- announced capabilities (5.0 §3.2.2.3) --------------------------------------------


def test_maximum_qos_retain_and_subscription_identifiers_are_enforced() -> None:
    conn = connected(connack_props=Properties(maximum_qos=1))
    assert refused(conn, Publish("t", qos=2, packet_id=1)).reason_code == 0x9B
    conn = connected(connack_props=Properties(retain_available=False))
    assert refused(conn, Publish("t", retain=True)).reason_code == 0x9A
    conn = connected(connack_props=Properties(subscription_identifier_available=False))
    sub = Subscribe(1, [Subscription("a")], Properties(subscription_identifiers=(3,)))
    assert refused(conn, sub).reason_code == 0xA1


def test_mqtt_3_3_4_6_a_client_publish_carries_no_subscription_identifier() -> None:
    packet = Publish("t", properties=Properties(subscription_identifiers=(1,)))
    assert refused(connected(), packet).reason_code == 0x82


def test_announced_maximum_packet_size_tightens_the_decoder() -> None:
    conn = connected(connack_props=Properties(maximum_packet_size=32))
    error = refused(conn, Publish("t", b"x" * 40))
    assert error.reason_code == 0x95
    assert conn.fail(error) == b"\xe0\x01\x95"


def test_mqtt_3_1_2_27_we_send_nothing_beyond_the_clients_maximum_packet_size() -> None:
    conn = connected(connect_props=Properties(maximum_packet_size=20, receive_maximum=1))
    with pytest.raises(PeerPacketTooLargeError):
        conn.send(Publish("t", b"x" * 40, 1, packet_id=1))
    assert conn.send_quota == 1  # MQTT-3.1.2-28: as if never sent, no slot taken


def test_mqtt_3_1_2_32_no_problem_information_unless_requested() -> None:
    conn = connected(connect_props=Properties(request_problem_information=False))
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.1\.2-32"):
        conn.send(Suback(1, [0x87], Properties(reason_string="denied")))
    assert conn.send(Disconnect(0x87, Properties(reason_string="bye")))


def test_mqtt_3_2_2_12_and_13_accepting_must_honour_the_will() -> None:
    conn = ServerConnection(max_packet_size=4096)
    will = Will("w", b"bye", qos=2, retain=True)
    conn.receive_data(encode(Connect("c", 5, will=will), 5), 0.0)
    conn.next_packet()
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.2\.2-12"):
        conn.send(Connack(properties=Properties(maximum_qos=1)))
    with pytest.raises(LocalProtocolError, match=r"MQTT-3\.2\.2-13"):
        conn.send(Connack(properties=Properties(retain_available=False)))
    assert conn.send(Connack(reason_code=0x9B)) == b"\x20\x03\x00\x9b\x00"


# -- enhanced authentication (5.0 §4.12) ----------------------------------------------


def test_enhanced_authentication_exchange() -> None:
    method = Properties(authentication_method="SCRAM-SHA-256", authentication_data=b"c1")
    conn = ServerConnection(max_packet_size=4096)
    conn.receive_data(encode(Connect("c", 5, properties=method), 5), 0.0)
    conn.next_packet()
    conn.send(
        Auth(0x18, Properties(authentication_method="SCRAM-SHA-256", authentication_data=b"s1"))
    )
    conn.receive_data(encode(Auth(0x18, method), 5), 1.0)
    assert isinstance(conn.next_packet(), Auth)
    with pytest.raises(LocalProtocolError, match=r"MQTT-4\.12\.0-5"):
        conn.send(Connack())
    conn.send(Connack(properties=Properties(authentication_method="SCRAM-SHA-256")))
    assert receive(conn, Auth(0x19, method))  # re-authentication (MQTT-4.12.1-1)


def test_mqtt_3_1_2_33_only_auth_or_disconnect_during_enhanced_auth() -> None:
    conn = ServerConnection(max_packet_size=4096)
    props = Properties(authentication_method="X")
    conn.receive_data(encode(Connect("c", 5, properties=props), 5) + encode(Pingreq(), 5), 0.0)
    conn.next_packet()
    with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.2-33") as caught:
        conn.next_packet()
    assert conn.fail(caught.value) == b"\x20\x03\x00\x82\x00"  # CONNACK, not DISCONNECT


def test_auth_rules() -> None:
    """MQTT-4.12.0-6/7: no AUTH either way without an Authentication Method."""
    assert (
        refused(connected(), Auth(0x19, Properties(authentication_method="X"))).reason_code == 0x82
    )
    with pytest.raises(LocalProtocolError, match=r"MQTT-4\.12\.0-6"):
        connected().send(Auth(0x18))
    conn = connected(
        connect_props=Properties(authentication_method="X"),
        connack_props=Properties(authentication_method="X"),
    )
    refused(conn, Auth(0x19, Properties(authentication_method="Y")))  # MQTT-4.12.0-5


# -- keep alive (MQTT-3.1.2-24) -------------------------------------------------------


def test_keep_alive_deadline_is_one_and_a_half_intervals_after_the_last_packet() -> None:
    conn = connected(4, keep_alive=10)
    receive(conn, Pingreq(), now=100.0)
    assert conn.keep_alive_deadline == 115.0
    assert not conn.keep_alive_expired(115.0)
    assert conn.keep_alive_expired(115.1)


def test_server_keep_alive_overrides_and_zero_disables() -> None:
    """MQTT-3.2.2-22: the Server Keep Alive we announce is the one that counts."""
    conn = connected(keep_alive=10, connack_props=Properties(server_keep_alive=4))
    assert conn.keep_alive_deadline == 6.0
    assert connected(keep_alive=0).keep_alive_deadline is None
    assert ServerConnection(max_packet_size=64).keep_alive_deadline is None


def test_partial_packets_do_not_reset_the_keep_alive_timer() -> None:
    conn = connected(4, keep_alive=10)
    conn.receive_data(b"\xc0", 50.0)
    assert conn.keep_alive_deadline == 15.0


# -- fail() and connection_lost() -----------------------------------------------------


def test_fail_answers_once() -> None:
    conn = connected()
    error = RemoteProtocolError("x")
    assert conn.fail(error) == b"\xe0\x01\x82"
    assert conn.fail(error) == b""


def test_a_local_error_is_answered_as_implementation_specific() -> None:
    assert connected().fail(LocalProtocolError("bug")) == b"\xe0\x01\x83"


def test_connection_lost_closes() -> None:
    conn = connected()
    conn.connection_lost()
    assert conn.state is S.CLOSED
    assert conn.next_packet() is None


def test_too_large_connect_gets_a_v5_connack_0x95() -> None:
    conn = ServerConnection(max_packet_size=64)
    conn.receive_data(b"\x10\xff\x01\x00\x04MQTT\x05", 0.0)
    with pytest.raises(RemoteProtocolError) as caught:
        conn.next_packet()
    assert conn.fail(caught.value) == b"\x20\x03\x00\x95\x00"


# -- the table itself -----------------------------------------------------------------


def test_the_transition_table_is_closed_over_its_states() -> None:
    for (state, sender, _), target in TRANSITIONS.items():
        assert isinstance(state, S)
        assert isinstance(sender, Sender)
        assert isinstance(target, S)
    assert not any(state is S.CLOSED for state, _, _ in TRANSITIONS)
    assert {key for key in TRANSITIONS if key[0] is S.AWAIT_CONNECT} == {
        (S.AWAIT_CONNECT, Sender.CLIENT, 1)
    }
