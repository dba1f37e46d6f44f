"""Sessions: clean and persistent, session present, expiry, and take-over."""

from __future__ import annotations

import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleetward.events import AuthRefused, ClientDisconnected

from ...support.broker import LiveBroker
from ._clients import (
    ALICE,
    BOB,
    Paho,
    connect_props,
    is_connected,
    props,
    wait_event,
    wait_until,
)
from ._raw import (
    packet,
    raw_client,
    read_packet,
    subscribe_packet,
)

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


def _persistent(lb: LiveBroker, client_id: str, v5: bool, *, expiry: int = 60) -> tuple[Paho, bool]:
    """A client asking for a session that outlives the connection; and Session Present."""
    if v5:
        c = Paho(lb, client_id=client_id)
        ack = c.connect(clean_start=False, properties=connect_props(SessionExpiryInterval=expiry))
    else:
        c = Paho(lb, v5=False, client_id=client_id, clean_session=False)
        ack = c.connect()
    assert ack.reason == 0
    return c, ack.session_present


@VERSIONS
def test_persistent_session_keeps_subscriptions_and_queues_in_order(
    mqtt_broker: LiveBroker, v5: bool
) -> None:
    """Offline QoS 1 messages are kept and delivered, in order, on resumption.

    v3 MQTT-3.1.2-4/-5 and v5 MQTT-3.1.2-5 / MQTT-3.1.2-23 (session kept), session
    present 1 (v3 MQTT-3.2.2-2, v5 MQTT-3.2.2-3); QoS 0 need not be queued.
    """
    c, present = _persistent(mqtt_broker, f"persist-{v5}", v5)
    assert not present
    pub = Paho(mqtt_broker).connected()
    back = None
    try:
        c.subscribe("sess/#", qos=1)
        c.disconnect()
        wait_until(lambda: not is_connected(mqtt_broker, f"persist-{v5}"))
        for i in range(20):
            pub.publish("sess/t", str(i), qos=1)
        back, present = _persistent(mqtt_broker, f"persist-{v5}", v5)
        assert present
        got = back.take(20)
        assert [int(m.payload) for m in got] == list(range(20))
        back.assert_silent(0.2)
    finally:
        pub.close()
        if back:
            back.close()


@VERSIONS
def test_session_present_flag(mqtt_broker: LiveBroker, v5: bool) -> None:
    """Session Present is 0 for a new or clean session, 1 for a resumed one.

    v3 MQTT-3.2.2-1/-2/-3, v5 MQTT-3.2.2-2/-3.
    """
    cid = f"present-{v5}"
    first, present = _persistent(mqtt_broker, cid, v5)
    assert not present
    first.disconnect()
    wait_until(lambda: not is_connected(mqtt_broker, cid))
    again, present = _persistent(mqtt_broker, cid, v5)
    assert present
    again.disconnect()
    wait_until(lambda: not is_connected(mqtt_broker, cid))
    clean = Paho(mqtt_broker, v5=v5, client_id=cid, clean_session=True)
    assert clean.connect().session_present is False
    clean.close()


@VERSIONS
def test_clean_session_discards_state(mqtt_broker: LiveBroker, v5: bool) -> None:
    """Clean start discards the old session: subscriptions and queued messages are gone.

    v3 MQTT-3.1.2-6, v5 MQTT-3.1.2-4.
    """
    cid = f"cleaned-{v5}"
    c, _ = _persistent(mqtt_broker, cid, v5)
    pub = Paho(mqtt_broker).connected()
    try:
        c.subscribe("clean/#", qos=1)
        c.disconnect()
        wait_until(lambda: not is_connected(mqtt_broker, cid))
        pub.publish("clean/t", b"queued", qos=1)
        fresh = Paho(mqtt_broker, v5=v5, client_id=cid).connected()
        fresh.assert_silent(0.3)
        pub.publish("clean/t", b"live", qos=1)
        fresh.assert_silent(0.3)
        fresh.close()
    finally:
        pub.close()


def test_v5_session_expiry_zero_ends_the_session_at_disconnect(mqtt_broker: LiveBroker) -> None:
    """Clean Start 0 without Session Expiry keeps nothing after the connection.

    5.0 §3.1.2.11.2 (absent means 0: the session ends with the network connection).
    """
    c = Paho(mqtt_broker, client_id="exp-zero")
    assert c.connect(clean_start=False).session_present is False
    c.subscribe("zero/#")
    c.disconnect()
    wait_until(lambda: "exp-zero" not in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions)))
    again = Paho(mqtt_broker, client_id="exp-zero")
    assert again.connect(clean_start=False).session_present is False
    again.close()


def test_session_expiry_interval_ends_the_session(mqtt_broker: LiveBroker) -> None:
    """A session is discarded when its Session Expiry Interval passes while offline.

    MQTT-3.1.2-23 (kept only until the interval ends); what was queued is gone too.
    """
    c, _ = _persistent(mqtt_broker, "short-lived", True, expiry=1)
    pub = Paho(mqtt_broker).connected()
    try:
        c.subscribe("short/#", qos=1)
        c.disconnect()
        wait_until(lambda: not is_connected(mqtt_broker, "short-lived"))
        t0 = time.monotonic()
        pub.publish("short/t", b"lost", qos=1)
        assert "short-lived" in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
        wait_until(
            lambda: "short-lived" not in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
        )
        assert time.monotonic() - t0 >= 0.5  # not at once: after the 1 s interval
        back, present = _persistent(mqtt_broker, "short-lived", True)
        assert not present
        back.assert_silent(0.3)
        back.close()
    finally:
        pub.close()


def test_disconnect_can_shorten_the_session_expiry(mqtt_broker: LiveBroker) -> None:
    """A Session Expiry Interval on DISCONNECT replaces the CONNECT's (5.0 §3.14.2.2.2)."""
    c, _ = _persistent(mqtt_broker, "shortened", True, expiry=600)
    c.disconnect(properties=_disconnect_expiry(0))
    wait_until(
        lambda: "shortened" not in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
    )


def _disconnect_expiry(seconds: int) -> Properties:
    return props(PacketTypes.DISCONNECT, SessionExpiryInterval=seconds)


def test_unacknowledged_qos1_is_resent_with_dup_on_resume(mqtt_broker: LiveBroker) -> None:
    """A QoS 1 message not acknowledged before the connection dropped is re-sent, DUP 1.

    v3 MQTT-4.4.0-1 and MQTT-3.3.1-1; same packet identifier.
    """
    port = mqtt_broker.plain_port
    raw = raw_client(port, "resend", keepalive=30, clean=False)
    pub = Paho(mqtt_broker).connected()
    try:
        raw.sendall(subscribe_packet(1, "resend/#", 1))
        assert read_packet(raw)[0] == 0x90
        pub.publish("resend/x", b"unacked", qos=1)
        first, body = read_packet(raw)
        assert first == 0x32
        raw.close()  # no PUBACK
        wait_until(lambda: not is_connected(mqtt_broker, "resend"))
        raw = raw_client(port, "resend", keepalive=30, clean=False)
        again_first, again_body = read_packet(raw)
        assert again_first == 0x3A  # PUBLISH, DUP 1, QoS 1
        assert again_body == body
        raw.sendall(b"\x40\x02" + body[10:12])
    finally:
        raw.close()
        pub.close()


@VERSIONS
def test_take_over_by_the_same_client_id(mqtt_broker: LiveBroker, v5: bool) -> None:
    """A second connection with the same client id closes the first.

    v3 MQTT-3.1.4-2; v5 MQTT-3.1.4-3 with DISCONNECT 0x8E Session taken over. The
    session continues on the new connection (subscriptions kept when it asks to resume).
    """
    cid = f"twin-{v5}"
    old, _ = _persistent(mqtt_broker, cid, v5)
    old.subscribe("twin/#", qos=1)
    new, present = _persistent(mqtt_broker, cid, v5)
    assert present
    pub = Paho(mqtt_broker).connected()
    try:
        reason = old.wait_disconnect()
        if v5:
            assert reason == 0x8E
        event = wait_event(mqtt_broker, ClientDisconnected, client_id=cid)
        assert event.reason == "taken_over"
        assert is_connected(mqtt_broker, cid)
        pub.publish("twin/x", b"to-new", qos=1)
        assert new.get().payload == b"to-new"
        old.assert_silent(0.2)
    finally:
        pub.close()
        new.close()
        old.close()


def test_take_over_chain_without_session_expiry(mqtt_broker: LiveBroker) -> None:
    """Every take-over closes the connection in place, also when the session ends.

    v5 MQTT-3.1.4-3. Clean Start 0 with no Session Expiry: the first take-over ends the
    old session (it lived only as long as its connection), and the third connection
    must still find and close the second one.
    """
    a = Paho(mqtt_broker, client_id="chain")
    a.connect(clean_start=False)
    b = Paho(mqtt_broker, client_id="chain")
    assert b.connect(clean_start=False).session_present is False
    assert a.wait_disconnect() == 0x8E
    c = Paho(mqtt_broker, client_id="chain")
    c.connect(clean_start=False)
    try:
        assert b.wait_disconnect() == 0x8E
        assert mqtt_broker.call(lambda: mqtt_broker.broker.sessions["chain"].conn) is not None
        assert mqtt_broker.call(lambda: len(mqtt_broker.broker.connections)) == 1
    finally:
        for x in (a, b, c):
            x.close()


@VERSIONS
def test_take_over_by_another_user_is_refused(mqtt_broker: LiveBroker, v5: bool) -> None:
    """bob cannot take alice's client id: CONNACK Not authorized, alice stays connected.

    v5 0x87 (5.0 §3.2.2.2), 3.1.1 return code 5; MQTT-3.1.4-3 applies only to the
    same identity.
    """
    alice = Paho(mqtt_broker, v5=v5, client_id="shared-device", user=ALICE).connected()
    bob = Paho(mqtt_broker, v5=v5, client_id="shared-device", user=BOB)
    try:
        alice.subscribe("devices/alice/#", qos=1)
        assert bob.connect().reason == 0x87  # paho maps 3.1.1 code 5 to 0x87
        event = wait_event(mqtt_broker, AuthRefused, client_id="shared-device")
        assert event.username == "bob"
        assert alice.disconnects.empty()
        assert alice.publish("devices/alice/x", b"still-here", qos=1) == 0
        assert alice.get().payload == b"still-here"
    finally:
        alice.close()
        bob.close()


def _publish_fields(body: bytes) -> tuple[bytes, bytes]:
    """(packet id, payload) of a v5 QoS > 0 PUBLISH body with an empty property block."""
    topic_len = int.from_bytes(body[:2], "big")
    at = 2 + topic_len
    pid = body[at : at + 2]
    props_len = body[at + 2]  # one-byte variable integer here
    return pid, body[at + 3 + props_len :]


def test_in_flight_messages_resent_in_order_within_a_smaller_receive_maximum(
    mqtt_broker: LiveBroker,
) -> None:
    """Unacknowledged messages are re-sent in their original order with their original
    packet identifiers, even when the new connection's Receive Maximum holds them back.

    v5 MQTT-4.4.0-1 (re-send with the original Packet Identifiers), MQTT-4.6.0-5 (order),
    MQTT-3.3.4-9 / MQTT-4.9.0-2 (never more in flight than the Receive Maximum).
    """
    port = mqtt_broker.plain_port
    raw = raw_client(port, "held", keepalive=30, v5=True, clean=False, session_expiry=60)
    pub = Paho(mqtt_broker).connected()
    try:
        raw.sendall(subscribe_packet(1, "held/#", 1, v5=True))
        assert read_packet(raw)[0] == 0x90
        for i in range(4):
            pub.publish("held/t", f"m{i}", qos=1)
        first_time = [_publish_fields(read_packet(raw)[1]) for _ in range(4)]
        assert [p for _, p in first_time] == [b"m0", b"m1", b"m2", b"m3"]
        raw.close()  # none acknowledged
        wait_until(lambda: not is_connected(mqtt_broker, "held"))
        raw = raw_client(
            port, "held", keepalive=30, v5=True, clean=False, session_expiry=60, receive_maximum=1
        )
        again = []
        for _ in range(4):
            first, body = read_packet(raw)
            assert first & 0x08, "a re-sent PUBLISH has DUP 1 (MQTT-3.3.1-1)"
            pid, payload = _publish_fields(body)
            again.append((pid, payload))
            raw.settimeout(0.3)
            with pytest.raises(TimeoutError):  # Receive Maximum 1: nothing more until PUBACK
                read_packet(raw)
            raw.settimeout(5)
            raw.sendall(b"\x40\x02" + pid)
        assert again == first_time
    finally:
        raw.close()
        pub.close()


def test_released_qos2_is_completed_with_pubrel_on_resume(mqtt_broker: LiveBroker) -> None:
    """A QoS 2 delivery that got its PUBREC resumes with PUBREL, not a second PUBLISH.

    v3 MQTT-4.4.0-1 (re-send unacknowledged PUBREL packets) and MQTT-4.3.3-1.
    """
    port = mqtt_broker.plain_port
    raw = raw_client(port, "q2-resume", keepalive=30, clean=False)
    pub = Paho(mqtt_broker).connected()
    try:
        raw.sendall(subscribe_packet(1, "q2r/#", 2))
        assert read_packet(raw)[0] == 0x90
        pub.publish("q2r/x", b"exactly-once", qos=2)
        first, body = read_packet(raw)
        assert first == 0x34
        pid = body[7:9]
        raw.sendall(b"\x50\x02" + pid)  # PUBREC
        assert read_packet(raw) == (0x62, pid)  # PUBREL
        raw.close()  # before PUBCOMP
        wait_until(lambda: not is_connected(mqtt_broker, "q2-resume"))
        raw = raw_client(port, "q2-resume", keepalive=30, clean=False)
        assert read_packet(raw) == (0x62, pid)
        raw.sendall(b"\x70\x02" + pid)  # PUBCOMP
        raw.settimeout(0.3)
        with pytest.raises(TimeoutError):
            read_packet(raw)
        assert (
            mqtt_broker.call(lambda: dict(mqtt_broker.broker.sessions["q2-resume"].inflight)) == {}
        )
    finally:
        raw.close()
        pub.close()


def test_inbound_qos2_resent_after_reconnect_is_not_delivered_twice(
    mqtt_broker: LiveBroker,
) -> None:
    """A publisher that re-sends a QoS 2 PUBLISH on a new connection, after the broker's
    PUBREC, does not cause a second delivery (v3 MQTT-4.3.3-2, state kept in the session).
    """
    port = mqtt_broker.plain_port
    sub = Paho(mqtt_broker).connected()
    raw = raw_client(port, "q2-pub", keepalive=30, clean=False)
    try:
        sub.subscribe("q2p/#", qos=2)
        publish = packet(0x34, b"\x00\x05q2p/x\x00\x09once")
        raw.sendall(publish)
        assert read_packet(raw) == (0x50, b"\x00\x09")
        raw.close()  # the PUBREC may have been lost, as far as the client knows
        wait_until(lambda: not is_connected(mqtt_broker, "q2-pub"))
        raw = raw_client(port, "q2-pub", keepalive=30, clean=False)
        raw.sendall(bytes((publish[0] | 0x08,)) + publish[1:])  # DUP re-send
        assert read_packet(raw) == (0x50, b"\x00\x09")
        raw.sendall(b"\x62\x02\x00\x09")
        assert read_packet(raw) == (0x70, b"\x00\x09")
        assert sub.get().payload == b"once"
        sub.assert_silent(0.3)
    finally:
        raw.close()
        sub.close()
