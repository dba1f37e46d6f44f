"""The run-at-a-time calls of ServerConnection agree with the packet-at-a-time ones."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    Connack,
    Connect,
    ConnectionState,
    LocalProtocolError,
    Packet,
    Pingreq,
    Properties,
    Puback,
    Publish,
    ReceiveMaximumExceededError,
    RemoteProtocolError,
    ServerConnection,
    TopicAliasInvalidError,
    encode,
)


def connected(
    version: int, connect_props: Properties = EMPTY_PROPERTIES, receive_maximum: int | None = None
) -> ServerConnection:
    conn = ServerConnection(max_packet_size=1 << 20)
    conn.receive_data(encode(Connect("c", version, properties=connect_props), version), 0.0)
    assert isinstance(conn.next_packet(), Connect)
    props = EMPTY_PROPERTIES
    if receive_maximum is not None:
        props = Properties(receive_maximum=receive_maximum, topic_alias_maximum=4)
    conn.send(Connack(properties=props))
    return conn


def feed(conn: ServerConnection, *packets: Packet) -> None:
    version = conn.version
    assert version is not None
    conn.receive_data(b"".join(encode(p, version) for p in packets), 1.0)


@pytest.mark.parametrize("version", [4, 5])
def test_a_run_of_publishes_stops_at_the_first_other_packet(version: int) -> None:
    conn = connected(version)
    feed(
        conn,
        Publish("a/1", b"1"),
        Publish("a/2", b"2", qos=1, packet_id=7),
        Pingreq(),
        Publish("a/3", b"3"),
    )
    run = conn.next_publishes()
    assert [(p.topic, p.payload, p.qos, p.packet_id) for p in run] == [
        ("a/1", b"1", 0, 0),
        ("a/2", b"2", 1, 7),
    ]
    assert conn.next_publishes() == []  # a PINGREQ is next: packet by packet
    assert isinstance(conn.next_packet(), Pingreq)
    assert [p.topic for p in conn.next_publishes()] == ["a/3"]
    assert conn.next_publishes() == []
    assert conn.next_packet() is None


def test_a_qos1_publish_in_a_run_counts_against_receive_maximum() -> None:
    """MQTT-3.3.4-7: the run applies the same receive-maximum rule as next_packet."""
    conn = connected(5, receive_maximum=2)
    feed(conn, *(Publish("t", b"x", qos=1, packet_id=i) for i in (1, 2, 3)))
    assert [p.packet_id for p in conn.next_publishes()] == [1, 2]  # what came first is kept
    with pytest.raises(ReceiveMaximumExceededError):
        conn.next_publishes()  # then the offending one ends the connection
    assert conn.state is ConnectionState.CLOSED
    assert conn.next_packet() is None


def test_pubacks_for_a_run_free_the_receive_maximum_and_match_send() -> None:
    conn = connected(5, receive_maximum=2)
    feed(conn, *(Publish("t", b"x", qos=1, packet_id=i) for i in (1, 258)))
    assert len(conn.next_publishes()) == 2
    assert conn.send_pubacks([1, 258]) == encode(Puback(1), 5) + encode(Puback(258), 5)
    feed(conn, Publish("t", b"x", qos=1, packet_id=3), Publish("t", b"x", qos=1, packet_id=4))
    assert [p.packet_id for p in conn.next_publishes()] == [3, 4]  # the slots were freed


def test_a_topic_alias_error_mid_run_keeps_the_packets_before_it() -> None:
    conn = connected(5, receive_maximum=10)
    feed(
        conn,
        Publish("t/1", b"1"),
        Publish("t/2", b"2", properties=Properties(topic_alias=9)),  # maximum is 4
        Publish("t/3", b"3"),
    )
    assert [p.topic for p in conn.next_publishes()] == ["t/1"]
    with pytest.raises(TopicAliasInvalidError):
        conn.next_publishes()
    assert conn.next_publishes() == []
    assert conn.next_packet() is None


def test_a_decoding_error_comes_after_the_run_before_it() -> None:
    conn = connected(4)
    conn.receive_data(encode(Publish("ok", b"1"), 4) + b"\x32\x05\x00\x01t\x00\x00", 1.0)
    assert [p.topic for p in conn.next_publishes()] == ["ok"]
    assert conn.next_publishes() == []
    with pytest.raises(RemoteProtocolError):  # Packet Identifier 0
        conn.next_packet()


def test_no_run_before_the_connack() -> None:
    conn = ServerConnection(max_packet_size=4096)
    conn.receive_data(encode(Connect("c", 4), 4) + encode(Publish("t", b"x"), 4), 0.0)
    assert conn.next_publishes() == []
    assert isinstance(conn.next_packet(), Connect)
    assert conn.next_publishes() == []  # MQTT-3.1.4-6: held until the CONNACK
    conn.send(Connack())
    assert [p.topic for p in conn.next_publishes()] == ["t"]


def test_a_run_of_pubacks_frees_the_send_quota() -> None:
    conn = connected(5, Properties(receive_maximum=2))
    for pid in (1, 2):
        conn.send(Publish("t", b"x", qos=1, packet_id=pid))
    assert conn.send_quota == 0
    feed(conn, Puback(1), Puback(2), Pingreq())
    assert [a.packet_id for a in conn.next_pubacks()] == [1, 2]
    assert conn.send_quota == 2
    assert conn.next_pubacks() == []
    assert isinstance(conn.next_packet(), Pingreq)


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(
    ("qos", "retain", "dup", "size"),
    [(1, False, False, 10), (2, True, False, 10), (1, False, True, 200), (1, True, True, 20000)],
)
def test_cached_publish_headers_match_the_encoder(
    version: int, qos: int, retain: bool, dup: bool, size: int
) -> None:
    payload = b"p" * size
    fast, full = connected(version), connected(version)
    for pid in (1, 300, 65535):  # the second time from the cache
        head = fast.publish_head("dev/1/temp", payload, qos, pid, retain, dup)
        assert head is not None
        want = full.send(Publish("dev/1/temp", payload, qos, retain, dup, pid))
        assert head + payload == want


def test_cached_publish_headers_keep_the_client_limits() -> None:
    """The send quota (MQTT-3.3.4-9), Maximum Packet Size and aliases take the full path."""
    quota = connected(5, Properties(receive_maximum=1))
    assert quota.publish_head("t", b"x", 1, 1, False, False) is not None
    assert quota.publish_head("t", b"x", 1, 2, False, False) is None
    with pytest.raises(LocalProtocolError):
        quota.send(Publish("t", b"x", qos=1, packet_id=2))
    small = connected(5, Properties(maximum_packet_size=20))
    assert small.publish_head("t", b"x" * 30, 1, 1, False, False) is None
    aliases = connected(5, Properties(topic_alias_maximum=3))
    assert aliases.publish_head("t", b"x", 1, 1, False, False) is None


def authenticating(version: int) -> ServerConnection:
    conn = ServerConnection(max_packet_size=1 << 20)
    conn.receive_data(encode(Connect("c", version), version), 0.0)
    assert isinstance(conn.next_packet(), Connect)
    return conn


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("present", [False, True])
def test_send_connack_is_send_of_a_connack(version: int, present: bool) -> None:
    props = EMPTY_PROPERTIES if version == 4 else Properties(receive_maximum=10)
    fast, slow = authenticating(version), authenticating(version)
    assert fast.send_connack(present, props) == slow.send(
        Connack(session_present=present, properties=props)
    )
    assert fast.state is slow.state is ConnectionState.CONNECTED
    assert fast.server_limits == slow.server_limits
    with pytest.raises(LocalProtocolError):  # MQTT-3.2.0-2: one CONNACK only
        fast.send_connack(present, props)
    fast.receive_data(encode(Pingreq(), version), 1.0)
    assert isinstance(fast.next_packet(), Pingreq)  # the connection is usable


def test_send_connack_before_connect_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        ServerConnection(max_packet_size=1 << 20).send_connack(False, EMPTY_PROPERTIES)
