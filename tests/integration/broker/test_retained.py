"""Retained messages: store, replace, clear, replay on subscribe, and the v5 options."""

from __future__ import annotations

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from ...support.broker import LiveBroker
from ._clients import BOB, MosquittoSub, Paho, mosquitto_pub

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


def _fresh_subscriber(lb: LiveBroker, v5: bool, topic: str = "ret/#") -> Paho:
    c = Paho(lb, v5=v5).connected()
    c.subscribe(topic, qos=1)
    return c


@VERSIONS
def test_retained_set_replace_clear(mqtt_broker: LiveBroker, v5: bool) -> None:
    """Set, replace and clear a retained message; live copies carry retain 0.

    Stored and replayed to new subscribers with RETAIN 1 (v3 MQTT-3.3.1-5, -6, -8;
    v5 MQTT-3.3.1-5, -9), replaced by the next retained PUBLISH, removed by an empty one
    which is still forwarded to existing subscribers (v3 MQTT-3.3.1-10/-11, v5
    MQTT-3.3.1-6/-7). An established subscription gets RETAIN 0 (v3 MQTT-3.3.1-9, v5
    MQTT-3.3.1-12).
    """
    pub = Paho(mqtt_broker, v5=v5).connected()
    live = _fresh_subscriber(mqtt_broker, v5)
    clients = [pub, live]
    try:
        pub.publish("ret/a", b"first", qos=1, retain=True)
        m = live.get()
        assert (m.payload, m.retain) == (b"first", False)

        late = _fresh_subscriber(mqtt_broker, v5)
        clients.append(late)
        m = late.get()
        assert (m.topic, m.payload, m.retain, m.qos) == ("ret/a", b"first", True, 1)

        pub.publish("ret/a", b"second", qos=1, retain=True)
        assert live.get().payload == b"second"
        later = _fresh_subscriber(mqtt_broker, v5)
        clients.append(later)
        m = later.get()
        assert (m.payload, m.retain) == (b"second", True)
        later.assert_silent()  # only the latest is kept

        pub.publish("ret/a", b"", qos=1, retain=True)
        m = live.get()
        assert (m.payload, m.retain) == (b"", False)  # forwarded as normal
        last = _fresh_subscriber(mqtt_broker, v5)
        clients.append(last)
        last.assert_silent()
        assert "ret/a" not in mqtt_broker.call(lambda: dict(mqtt_broker.broker.router.retained))
    finally:
        for c in clients:
            c.close()


def test_non_retained_publish_leaves_the_retained_message(mqtt_broker: LiveBroker) -> None:
    """A PUBLISH with RETAIN 0 neither stores nor replaces (v3 MQTT-3.3.1-12, v5 MQTT-3.3.1-8)."""
    pub = Paho(mqtt_broker).connected()
    late = None
    try:
        pub.publish("ret/k", b"kept", qos=1, retain=True)
        pub.publish("ret/k", b"passing", qos=1)
        late = _fresh_subscriber(mqtt_broker, True)
        m = late.get()
        assert (m.payload, m.retain) == (b"kept", True)
        late.assert_silent()
    finally:
        pub.close()
        if late:
            late.close()


def test_retained_replay_uses_min_qos_and_wildcards(mqtt_broker: LiveBroker) -> None:
    """Retained messages matching a wildcard filter replay at min(message, granted) QoS.

    v5 MQTT-3.3.1-9 and MQTT-3.8.4-8; a retained QoS 0 message stays QoS 0.
    """
    pub = Paho(mqtt_broker).connected()
    sub = Paho(mqtt_broker, v5=False).connected()
    try:
        pub.publish("ret/w/one", b"1", qos=2, retain=True)
        pub.publish("ret/w/two", b"2", qos=0, retain=True)
        pub.publish("ret/other", b"x", qos=1, retain=True)
        sub.subscribe("ret/w/+", qos=1)
        got = {m.topic: (m.payload, m.qos, m.retain) for m in sub.take(2)}
        assert got == {"ret/w/one": (b"1", 1, True), "ret/w/two": (b"2", 0, True)}
        sub.assert_silent()
    finally:
        pub.close()
        sub.close()


def test_retain_handling_options(mqtt_broker: LiveBroker) -> None:
    """Retain Handling 0 always replays, 1 only for a new subscription, 2 never.

    MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11.
    """
    pub = Paho(mqtt_broker).connected()
    sub = Paho(mqtt_broker).connected()
    try:
        pub.publish("ret/rh", b"r", qos=1, retain=True)
        always = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
        if_new = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        never = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)

        sub.subscribe("ret/rh", options=always)
        assert sub.get().retain
        sub.subscribe("ret/rh", options=always)  # existing subscription: 0 replays again
        assert sub.get().payload == b"r"

        sub.subscribe("ret/+", options=if_new)  # new filter: replayed
        assert sub.get().retain
        sub.subscribe("ret/+", options=if_new)  # now it exists: nothing
        sub.assert_silent()

        sub.subscribe("ret/#", options=never)
        sub.assert_silent()
    finally:
        pub.close()
        sub.close()


def test_retain_as_published(mqtt_broker: LiveBroker) -> None:
    """With Retain As Published a live retained message keeps RETAIN 1; without, 0.

    MQTT-3.3.1-12 (RAP 0: RETAIN set to 0) and MQTT-3.3.1-13 (RAP 1: as published).
    """
    pub = Paho(mqtt_broker).connected()
    rap = Paho(mqtt_broker).connected()
    plain = Paho(mqtt_broker).connected()
    try:
        rap.subscribe("ret/rap", options=SubscribeOptions(qos=1, retainAsPublished=True))
        plain.subscribe("ret/rap", options=SubscribeOptions(qos=1, retainAsPublished=False))
        pub.publish("ret/rap", b"kept", qos=1, retain=True)
        pub.publish("ret/rap", b"plain", qos=1)
        assert [(m.payload, m.retain) for m in rap.take(2)] == [(b"kept", True), (b"plain", False)]
        assert [(m.payload, m.retain) for m in plain.take(2)] == [
            (b"kept", False),
            (b"plain", False),
        ]
    finally:
        for c in (pub, rap, plain):
            c.close()


def test_mosquitto_retained_over_tls(mqtt_broker: LiveBroker) -> None:
    """mosquitto_pub -r stores a message that a later mosquitto_sub gets with retain 1.

    v3 MQTT-3.3.1-5/-8 over TLS with 3.1.1 clients; then ``-r -n`` clears it
    (MQTT-3.3.1-10/-11).
    """
    done = mosquitto_pub(
        mqtt_broker, "-t", "shared/ret", "-m", "on", "-r", "-q", "1", v5=False, user=BOB
    )
    assert done.returncode == 0, done.stderr
    sub = MosquittoSub(
        mqtt_broker,
        "mq-ret",
        "shared/ret",
        "-q",
        "1",
        "-C",
        "1",
        "-F",
        "%r %q %p",
        wait=False,
        v5=False,
        user=BOB,
    )
    code, out, err = sub.output()
    assert (code, out.strip()) == (0, "1 1 on"), err

    cleared = mosquitto_pub(mqtt_broker, "-t", "shared/ret", "-n", "-r", v5=False, user=BOB)
    assert cleared.returncode == 0, cleared.stderr
    retained = mqtt_broker.call(lambda: set(mqtt_broker.broker.router.retained))
    assert "shared/ret" not in retained
