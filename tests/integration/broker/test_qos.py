"""Quality of service end to end, with real clients on both protocol versions."""

from __future__ import annotations

import pytest

from ...support.broker import LiveBroker
from ._clients import (
    BOB,
    MosquittoSub,
    Paho,
    mosquitto_pub,
)
from ._raw import (
    packet,
    raw_client,
    read_packet,
    subscribe_packet,
)

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_at_each_qos_arrives_at_that_qos(
    mqtt_broker: LiveBroker, v5: bool, qos: int
) -> None:
    """A message published at QoS n to a QoS 2 subscription arrives once at QoS n.

    MQTT-4.3.1-1 / MQTT-4.3.2-1 / MQTT-4.3.3-1 (the three delivery protocols), and the
    QoS delivered is min(published, granted) (v5 MQTT-3.8.4-8, v3 MQTT-3.8.4-6).
    """
    sub = Paho(mqtt_broker, v5=v5).connected()
    pub = Paho(mqtt_broker, v5=v5).connected()
    try:
        assert sub.subscribe("qos/t", qos=2) == [2]
        ack = pub.publish("qos/t", f"q{qos}".encode(), qos=qos)
        if qos:
            assert ack == 0  # PUBACK / PUBREC reason Success
        msg = sub.get()
        assert (msg.topic, msg.payload, msg.qos, msg.retain) == (
            "qos/t",
            f"q{qos}".encode(),
            qos,
            False,
        )
        sub.assert_silent()  # exactly one copy
    finally:
        sub.close()
        pub.close()


@VERSIONS
def test_delivery_is_downgraded_to_the_subscription_maximum(
    mqtt_broker: LiveBroker, v5: bool
) -> None:
    """A QoS 2 message reaches QoS 0 and QoS 1 subscribers at their granted maximum.

    v5 MQTT-3.8.4-8 / v3 MQTT-3.8.4-6: the QoS of the delivered message is the minimum
    of the published QoS and the granted maximum.
    """
    low = Paho(mqtt_broker, v5=v5).connected()
    mid = Paho(mqtt_broker, v5=v5).connected()
    pub = Paho(mqtt_broker, v5=v5).connected()
    try:
        assert low.subscribe("down/#", qos=0) == [0]
        assert mid.subscribe("down/#", qos=1) == [1]
        assert pub.publish("down/x", b"m", qos=2) == 0
        assert low.get().qos == 0
        assert mid.get().qos == 1
    finally:
        for c in (low, mid, pub):
            c.close()


def test_mosquitto_clients_downgrade_over_tls(mqtt_broker: LiveBroker) -> None:
    """mosquitto_sub at QoS 1 gets a mosquitto_pub QoS 2 message at QoS 1, over TLS.

    v5 MQTT-3.8.4-8.
    """
    sub = MosquittoSub(
        mqtt_broker, "mq-down", "shared/down", "-q", "1", "-C", "1", "-F", "%q %t %p", user=BOB
    )
    done = mosquitto_pub(mqtt_broker, "-t", "shared/down", "-m", "hello", "-q", "2", user=BOB)
    assert done.returncode == 0, done.stderr
    code, out, err = sub.output()
    assert code == 0, err
    assert out.strip() == "1 shared/down hello"


@VERSIONS
def test_qos1_burst_arrives_complete_and_in_order(mqtt_broker: LiveBroker, v5: bool) -> None:
    """500 QoS 1 messages from one publisher arrive all, once, in publication order.

    v5 MQTT-4.6.0-5 / MQTT-4.6.0-6 (v3 MQTT-4.6.0-6): each topic is an Ordered Topic.
    The count is far above the broker's in-flight window, so queueing is exercised.
    """
    sub = Paho(mqtt_broker, v5=not v5).connected()
    pub = Paho(mqtt_broker, v5=v5, inflight=100).connected()
    try:
        sub.subscribe("burst/#", qos=1)
        for i in range(500):
            pub.publish("burst/t", str(i), qos=1, wait=False)
        got = sub.take(500, timeout=20)
        assert [int(m.payload) for m in got] == list(range(500))
        assert {m.qos for m in got} == {1}
        sub.assert_silent(0.2)
    finally:
        sub.close()
        pub.close()


def test_qos2_resent_publish_is_delivered_once(mqtt_broker: LiveBroker) -> None:
    """A QoS 2 PUBLISH sent twice (DUP) before PUBREL is routed only once.

    v3 MQTT-4.3.3-2: until PUBREL the receiver answers every PUBLISH with that packet id
    with PUBREC and must not cause duplicate delivery (the same rule in 5.0 §4.3.3).
    """
    sub = Paho(mqtt_broker).connected()
    raw = raw_client(mqtt_broker.plain_port, "raw-q2", keepalive=30)
    try:
        sub.subscribe("q2/#", qos=2)
        publish = packet(0x34, b"\x00\x04q2/x" + b"\x00\x07" + b"once")
        raw.sendall(publish)
        assert read_packet(raw) == (0x50, b"\x00\x07")  # PUBREC
        raw.sendall(bytes((publish[0] | 0x08,)) + publish[1:])  # the same, DUP=1
        assert read_packet(raw) == (0x50, b"\x00\x07")
        raw.sendall(b"\x62\x02\x00\x07")  # PUBREL
        assert read_packet(raw) == (0x70, b"\x00\x07")  # PUBCOMP
        msg = sub.get()
        assert (msg.topic, msg.payload, msg.qos) == ("q2/x", b"once", 2)
        sub.assert_silent()
        # the id is free again: a new message with it is a new message
        raw.sendall(packet(0x34, b"\x00\x04q2/x" + b"\x00\x07" + b"again"))
        assert read_packet(raw) == (0x50, b"\x00\x07")
        raw.sendall(b"\x62\x02\x00\x07")
        assert read_packet(raw) == (0x70, b"\x00\x07")
        assert sub.get().payload == b"again"
    finally:
        raw.close()
        sub.close()


def test_raw_qos1_subscriber_gets_puback_flow(mqtt_broker: LiveBroker) -> None:
    """The broker delivers QoS 1 with a packet id and takes the subscriber's PUBACK.

    v5 MQTT-2.2.1-4 (the server's non-zero packet id for QoS > 0), MQTT-4.3.2-1.
    """
    raw = raw_client(mqtt_broker.plain_port, "raw-q1", keepalive=30)
    pub = Paho(mqtt_broker, v5=False).connected()
    try:
        raw.sendall(subscribe_packet(1, "q1/#", 1))
        assert read_packet(raw) == (0x90, b"\x00\x01\x01")
        pub.publish("q1/a", b"1", qos=1)
        first, body = read_packet(raw)
        assert first & 0xF6 == 0x32  # PUBLISH, QoS 1
        pid = body[6:8]
        assert pid != b"\x00\x00"
        raw.sendall(b"\x40\x02" + pid)
        pub.publish("q1/b", b"2", qos=1)
        first, body = read_packet(raw)
        assert first & 0x08 == 0  # a new message, not a re-send
        assert body[2:6] == b"q1/b"
    finally:
        raw.close()
        pub.close()


@VERSIONS
def test_resubscribe_replaces_the_subscription(mqtt_broker: LiveBroker, v5: bool) -> None:
    """SUBSCRIBE to an existing filter replaces it: new maximum QoS, still one copy.

    v3 MQTT-3.8.4-3 / v5 MQTT-3.8.4-3.
    """
    sub = Paho(mqtt_broker, v5=v5).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        assert sub.subscribe("resub/t", qos=0) == [0]
        assert sub.subscribe("resub/t", qos=2) == [2]
        pub.publish("resub/t", b"x", qos=2)
        assert sub.get().qos == 2
        sub.assert_silent()
    finally:
        sub.close()
        pub.close()


@VERSIONS
def test_unsubscribe_stops_delivery(mqtt_broker: LiveBroker, v5: bool) -> None:
    """UNSUBSCRIBE ends delivery; v5 UNSUBACK says 0x11 for a filter that had none.

    v3 MQTT-3.10.4-2 / v5 MQTT-3.10.4-2 (stop adding messages), 5.0 §3.11.3 (0x11).
    """
    sub = Paho(mqtt_broker, v5=v5).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        sub.subscribe("unsub/#", qos=1)
        codes = sub.unsubscribe("unsub/#")
        if v5:
            assert codes == [0]
        pub.publish("unsub/x", b"late", qos=1)
        sub.assert_silent()
        if v5:
            assert sub.unsubscribe("never/subscribed") == [0x11]
    finally:
        sub.close()
        pub.close()
