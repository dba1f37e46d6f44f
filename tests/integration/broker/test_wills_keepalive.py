"""Will messages (abrupt close, DISCONNECT, will delay) and keep-alive enforcement."""

from __future__ import annotations

import time

import pytest
from paho.mqtt.packettypes import PacketTypes

from fleetward.events import ClientDisconnected

from ...support.broker import LiveBroker
from ._clients import (
    ALICE,
    MosquittoSub,
    Paho,
    connect_props,
    is_connected,
    props,
    wait_event,
    wait_until,
)
from ._raw import (
    raw_client,
    read_packet,
    read_until_closed,
)

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


def _watcher(lb: LiveBroker, topic: str = "will/#") -> Paho:
    w = Paho(lb).connected()
    w.subscribe(topic, qos=1)
    return w


@VERSIONS
def test_will_published_when_the_socket_dies(mqtt_broker: LiveBroker, v5: bool) -> None:
    """A connection that ends without DISCONNECT has its will published.

    v3 MQTT-3.1.2-8 / v5 MQTT-3.1.2-8; Will QoS and Retain are honoured (v3 MQTT-3.1.2-17,
    v5 MQTT-3.1.2-15): the retained will is replayed to a later subscriber.
    """
    watcher = _watcher(mqtt_broker)
    dying = Paho(mqtt_broker, v5=v5, client_id=f"dying-{v5}").connected(
        will=("will/dying", b"gone", 1, True, None)
    )
    try:
        dying.kill()
        m = watcher.get()
        assert (m.topic, m.payload, m.qos, m.retain) == ("will/dying", b"gone", 1, False)
        event = wait_event(mqtt_broker, ClientDisconnected, client_id=f"dying-{v5}")
        assert (event.reason, event.will_pending) == ("socket_closed", True)
        late = _watcher(mqtt_broker)
        m = late.get()
        assert (m.payload, m.retain) == (b"gone", True)
        late.close()
    finally:
        watcher.close()


def test_will_of_killed_mosquitto_sub_over_tls(mqtt_broker: LiveBroker) -> None:
    """mosquitto_sub killed with SIGKILL (no DISCONNECT) has its will published (MQTT-3.1.2-8)."""
    watcher = Paho(mqtt_broker, client_id="alice-watch", user=ALICE).connected()
    try:
        watcher.subscribe("devices/alice/#", qos=1)
        sub = MosquittoSub(
            mqtt_broker,
            "alice-mq",
            "devices/alice/in",
            "--will-topic",
            "devices/alice/status",
            "--will-payload",
            "offline",
            "--will-qos",
            "1",
            user=ALICE,
        )
        sub.kill()
        m = watcher.get()
        assert (m.topic, m.payload, m.qos) == ("devices/alice/status", b"offline", 1)
    finally:
        watcher.close()


@VERSIONS
def test_no_will_after_normal_disconnect(mqtt_broker: LiveBroker, v5: bool) -> None:
    """A normal DISCONNECT discards the will (v3 MQTT-3.1.2-10, v5 MQTT-3.14.4-3)."""
    watcher = _watcher(mqtt_broker)
    polite = Paho(mqtt_broker, v5=v5, client_id="polite").connected(
        will=("will/polite", b"gone", 1, False, None)
    )
    try:
        polite.disconnect()
        event = wait_event(mqtt_broker, ClientDisconnected, client_id="polite")
        assert (event.reason, event.will_pending) == ("client_disconnect", False)
        watcher.assert_silent(0.5)
    finally:
        watcher.close()


def test_disconnect_with_will_message_sends_the_will(mqtt_broker: LiveBroker) -> None:
    """DISCONNECT with reason 0x04 asks the server to publish the will (MQTT 5 §3.14.2.1)."""
    watcher = _watcher(mqtt_broker)
    c = Paho(mqtt_broker, client_id="will-04").connected(will=("will/04", b"asked", 0, False, None))
    try:
        c.disconnect(reason=0x04)
        m = watcher.get()
        assert (m.topic, m.payload) == ("will/04", b"asked")
    finally:
        watcher.close()


def _delayed_will_client(lb: LiveBroker, client_id: str, delay: int, expiry: int) -> Paho:
    will_props = props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay)
    return Paho(lb, client_id=client_id).connected(
        clean_start=False,
        properties=connect_props(SessionExpiryInterval=expiry),
        will=("will/delayed", client_id.encode(), 1, False, will_props),
    )


def test_will_delay_reconnect_in_time_cancels_the_will(mqtt_broker: LiveBroker) -> None:
    """Reconnecting to the session before the Will Delay Interval ends means no will.

    MQTT-3.1.3-9.
    """
    watcher = _watcher(mqtt_broker)
    c = _delayed_will_client(mqtt_broker, "wd-back", delay=2, expiry=30)
    back = None
    try:
        c.kill()
        wait_until(lambda: not is_connected(mqtt_broker, "wd-back"))
        back = Paho(mqtt_broker, client_id="wd-back").connected(
            clean_start=False, properties=connect_props(SessionExpiryInterval=30)
        )
        watcher.assert_silent(2.3)  # past the 2 s delay
    finally:
        watcher.close()
        if back:
            back.close()


def test_will_delay_publishes_after_the_interval(mqtt_broker: LiveBroker) -> None:
    """Without a reconnection the will goes out once the Will Delay Interval has passed.

    MQTT-3.1.2-8 (published when the delay has elapsed), 5.0 §3.1.3.2.2.
    """
    watcher = _watcher(mqtt_broker)
    c = _delayed_will_client(mqtt_broker, "wd-gone", delay=1, expiry=30)
    try:
        c.kill()
        t0 = time.monotonic()
        m = watcher.get(timeout=4)
        elapsed = time.monotonic() - t0
        assert m.payload == b"wd-gone"
        assert 0.5 <= elapsed <= 2.5, elapsed  # t0 is taken a little after the drop
        assert "wd-gone" in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
    finally:
        watcher.close()


def test_will_goes_out_when_the_session_ends_before_the_delay(mqtt_broker: LiveBroker) -> None:
    """The will is published when the session ends, if that comes before the delay.

    MQTT-3.1.2-8 ("the Will Delay Interval has elapsed or the Session ends").
    """
    watcher = _watcher(mqtt_broker)
    c = _delayed_will_client(mqtt_broker, "wd-short", delay=60, expiry=1)
    try:
        c.kill()
        t0 = time.monotonic()
        m = watcher.get(timeout=4)
        assert m.payload == b"wd-short"
        assert 0.5 <= time.monotonic() - t0 <= 2.5
        assert "wd-short" not in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
    finally:
        watcher.close()


@VERSIONS
def test_silent_client_is_cut_after_one_and_a_half_keepalives(
    mqtt_broker: LiveBroker, v5: bool
) -> None:
    """A client that sends nothing for 1.5 x Keep Alive is disconnected and its will sent.

    v3 MQTT-3.1.2-24 / v5 MQTT-3.1.2-22; in v5 the server says why with DISCONNECT 0x8D
    Keep Alive timeout before closing (5.0 §3.14.2.1).
    """
    watcher = _watcher(mqtt_broker)
    keepalive = 2
    client_id = f"silent-{v5}"
    sock = raw_client(
        mqtt_broker.plain_port, client_id, keepalive=keepalive, v5=v5, will=("will/silent", b"x")
    )
    t0 = time.monotonic()
    try:
        packets = read_until_closed(sock, timeout=keepalive * 3)
        elapsed = time.monotonic() - t0
        assert 1.4 * keepalive <= elapsed <= 1.5 * keepalive + 1, elapsed
        if v5:
            assert [first for first, _ in packets] == [0xE0]  # one DISCONNECT
            assert packets[0][1][0] == 0x8D  # Keep Alive timeout
        else:
            assert packets == []
        assert watcher.get().topic == "will/silent"
        event = wait_event(mqtt_broker, ClientDisconnected, client_id=client_id)
        assert (event.reason, event.will_pending) == ("keepalive", True)
    finally:
        sock.close()
        watcher.close()


def test_pingreq_keeps_the_connection_alive(mqtt_broker: LiveBroker) -> None:
    """PINGREQ resets the keep-alive timer and is answered by PINGRESP (MQTT-3.12.4-1)."""
    keepalive = 2
    sock = raw_client(mqtt_broker.plain_port, "pinger", keepalive=keepalive)
    try:
        for _ in range(4):  # 3.2 s in all, past 1.5 x 2 s
            time.sleep(0.8)
            sock.sendall(b"\xc0\x00")
            assert read_packet(sock) == (0xD0, b"")
        assert is_connected(mqtt_broker, "pinger")
    finally:
        sock.close()


def test_will_properties_are_forwarded(mqtt_broker: LiveBroker) -> None:
    """A v5 will carries its Content Type, User Properties and Response Topic to the
    subscriber (5.0 §3.1.3.2: will properties are sent with the will message).
    """
    watcher = _watcher(mqtt_broker)
    will_props = props(
        PacketTypes.WILLMESSAGE,
        ContentType="text/plain",
        UserProperty=[("why", "lost")],
        ResponseTopic="will/ack",
    )
    c = Paho(mqtt_broker, client_id="will-props").connected(
        will=("will/props", b"bye", 1, False, will_props)
    )
    try:
        c.kill()
        m = watcher.get()
        assert m.payload == b"bye"
        assert m.properties.ContentType == "text/plain"
        assert m.properties.UserProperty == [("why", "lost")]
        assert m.properties.ResponseTopic == "will/ack"
    finally:
        watcher.close()
