"""MQTT 5 features with paho: aliases, expiry, identifiers, no-local, sharing, properties."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from ...support.broker import LiveBroker
from ._clients import (
    BOB,
    Paho,
    connect_props,
    is_connected,
    props,
    publish_props,
    wait_until,
)
from ._raw import (
    packet,
    raw_client,
    read_packet,
)


def test_inbound_topic_alias(mqtt_broker: LiveBroker) -> None:
    """A client may set a Topic Alias and then publish with an empty topic and the alias.

    MQTT-3.3.2-12 (alias maps to the topic for later PUBLISH); subscribers see the full
    topic and no alias (an alias belongs to one network connection, MQTT-3.3.2-7).
    """
    sub = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        sub.subscribe("alias/#", qos=1)
        pub.publish("alias/long/topic", b"1", qos=1, properties=publish_props(TopicAlias=3))
        pub.publish("", b"2", qos=1, properties=publish_props(TopicAlias=3))
        pub.publish("alias/other", b"3", qos=1, properties=publish_props(TopicAlias=3))  # remap
        pub.publish("", b"4", qos=1, properties=publish_props(TopicAlias=3))
        got = sub.take(4)
        assert [(m.topic, m.payload) for m in got] == [
            ("alias/long/topic", b"1"),
            ("alias/long/topic", b"2"),
            ("alias/other", b"3"),
            ("alias/other", b"4"),
        ]
        assert all(not hasattr(m.properties, "TopicAlias") for m in got)
    finally:
        sub.close()
        pub.close()


def test_outbound_topic_aliases_when_the_client_allows_them(mqtt_broker: LiveBroker) -> None:
    """The broker aliases topics it sends to a client that set Topic Alias Maximum.

    5.0 §3.3.2.3.4: the first PUBLISH of a topic carries it with a new alias, later ones
    an empty topic and the alias; never an alias above the client's maximum
    (MQTT-3.3.2-9); a full table is re-mapped by sending a new topic with an old alias.
    paho does not resolve aliases on receipt, so the test keeps the client's table.
    """
    sub = Paho(mqtt_broker)
    sub.connected(properties=connect_props(TopicAliasMaximum=2))
    pub = Paho(mqtt_broker).connected()
    try:
        sub.subscribe("oa/#", qos=1)
        sent = ["oa/a", "oa/a", "oa/b", "oa/b", "oa/c", "oa/a", "oa/c", "oa/a"]
        for i, topic in enumerate(sent):
            pub.publish(topic, str(i).encode(), qos=1)
        table: dict[int, str] = {}
        resolved = []
        for m in sub.take(len(sent)):
            alias = m.properties.TopicAlias  # every PUBLISH carries one
            assert 1 <= alias <= 2
            if m.topic:
                table[alias] = m.topic  # a new or re-mapped alias
            else:
                assert alias in table, "an alias the client was never told"
            resolved.append((table[alias], int(m.payload)))
        assert resolved == [(t, i) for i, t in enumerate(sent)]
        sub.assert_silent(0.1)
    finally:
        sub.close()
        pub.close()


def test_no_outbound_aliases_without_the_clients_consent(mqtt_broker: LiveBroker) -> None:
    """Without Topic Alias Maximum in CONNECT the broker never sends one (MQTT-3.1.2-26)."""
    sub = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        sub.subscribe("na/#", qos=1)
        for _ in range(3):
            pub.publish("na/x", b"1", qos=1)
        got = sub.take(3)
        assert all(m.topic == "na/x" for m in got)
        assert all(not hasattr(m.properties, "TopicAlias") for m in got)
    finally:
        sub.close()
        pub.close()


def test_topic_alias_maximum_is_announced(mqtt_broker: LiveBroker) -> None:
    """The CONNACK tells the client how many aliases it may use (5.0 §3.2.2.3.8)."""
    c = Paho(mqtt_broker)
    ack = c.connect()
    try:
        assert ack.properties is not None
        assert ack.properties.TopicAliasMaximum == 64
        assert ack.properties.ReceiveMaximum == 1024
    finally:
        c.close()


def test_queued_message_expires_while_offline(mqtt_broker: LiveBroker) -> None:
    """A queued message whose Message Expiry Interval passes is not delivered.

    MQTT-3.3.2-5; the survivor's remaining expiry is sent lowered by the time it waited
    (MQTT-3.3.2-6).
    """
    cid = "expiring"
    c = Paho(mqtt_broker, client_id=cid)
    c.connect(clean_start=False, properties=connect_props(SessionExpiryInterval=60))
    c.subscribe("exp/#", qos=1)
    c.disconnect()
    wait_until(lambda: not is_connected(mqtt_broker, cid))
    pub = Paho(mqtt_broker).connected()
    back = None
    try:
        pub.publish("exp/a", b"short", qos=1, properties=publish_props(MessageExpiryInterval=1))
        pub.publish("exp/b", b"long", qos=1, properties=publish_props(MessageExpiryInterval=100))
        pub.publish("exp/c", b"forever", qos=1)
        time.sleep(1.2)
        back = Paho(mqtt_broker, client_id=cid)
        back.connect(clean_start=False, properties=connect_props(SessionExpiryInterval=60))
        got = back.take(2)
        assert [m.payload for m in got] == [b"long", b"forever"]
        assert 97 <= got[0].properties.MessageExpiryInterval <= 99
        assert not hasattr(got[1].properties, "MessageExpiryInterval")
        back.assert_silent(0.2)
    finally:
        pub.close()
        if back:
            back.close()


def test_subscription_identifiers_are_delivered(mqtt_broker: LiveBroker) -> None:
    """Each matching subscription's identifier comes with the message, in one copy.

    MQTT-3.3.4-3 (identifiers of the matching subscriptions) and MQTT-3.3.4-2 (one copy
    at the maximum QoS of the overlapping subscriptions).
    """
    c = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        c.subscribe(
            "sid/#", qos=0, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7)
        )
        c.subscribe(
            "sid/+", qos=1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=9)
        )
        c.subscribe("sid/x/#", qos=1)  # no identifier
        pub.publish("sid/x", b"both", qos=1)
        m = c.get()
        assert sorted(m.properties.SubscriptionIdentifier) == [7, 9]
        assert m.qos == 1
        c.assert_silent()
        pub.publish("sid/x/y", b"one", qos=1)
        m = c.get()
        assert m.properties.SubscriptionIdentifier == [7]
    finally:
        c.close()
        pub.close()


def test_no_local(mqtt_broker: LiveBroker) -> None:
    """With No Local a client does not get its own messages back (MQTT-3.8.3-3)."""
    me = Paho(mqtt_broker, client_id="nolocal").connected()
    other = Paho(mqtt_broker).connected()
    try:
        me.subscribe("nl/#", options=SubscribeOptions(qos=1, noLocal=True))
        other.subscribe("nl/#", qos=1)
        me.publish("nl/x", b"mine", qos=1)
        assert other.get().payload == b"mine"
        me.assert_silent()
        other.publish("nl/x", b"theirs", qos=1)
        assert me.get().payload == b"theirs"
    finally:
        me.close()
        other.close()


def test_shared_subscription_distributes_messages(mqtt_broker: LiveBroker) -> None:
    """Messages to a shared subscription go to exactly one member each; both get some.

    5.0 §4.8.2; members are bob over TLS and an anonymous client on the plain listener.
    The messages use distinct topics, as devices publishing under one filter do.
    """
    a = Paho(mqtt_broker, user=BOB).connected()
    b = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        assert a.subscribe("$share/g/shared/#", qos=1) == [1]
        assert b.subscribe("$share/g/shared/#", qos=1) == [1]
        for i in range(20):
            pub.publish(f"shared/dev{i}/t", str(i), qos=1)
        got_a: list[int] = []
        got_b: list[int] = []
        wait_until(lambda: _drain(a, got_a) + _drain(b, got_b) >= 20 or None)
        a.assert_silent(0.1)
        b.assert_silent(0.1)
        assert sorted(got_a + got_b) == list(range(20))  # all, none twice
        assert got_a, "the first member got nothing"
        assert got_b, "the second member got nothing"
    finally:
        for c in (a, b, pub):
            c.close()


def _drain(c: Paho, into: list[int]) -> int:
    while not c.messages.empty():
        into.append(int(c.messages.get().payload))
    return len(into)


def test_shared_subscriptions_with_one_name_are_independent(mqtt_broker: LiveBroker) -> None:
    """Two shared subscriptions with the same share name but other filters each get a copy.

    5.0 §4.8.2: "Each Shared Subscription is independent from any other"; the share name
    does not relate ``$share/g/shared/t`` to ``$share/g/shared/#``.
    """
    one = Paho(mqtt_broker).connected()
    two = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        one.subscribe("$share/g/shared/t", qos=1)
        two.subscribe("$share/g/shared/#", qos=1)
        pub.publish("shared/t", b"x", qos=1)
        assert one.get().payload == b"x"
        assert two.get().payload == b"x"
    finally:
        for c in (one, two, pub):
            c.close()


def test_shared_subscription_gets_no_retained_messages(mqtt_broker: LiveBroker) -> None:
    """Retained messages are not sent when a shared subscription is made (5.0 §4.8.2)."""
    pub = Paho(mqtt_broker).connected()
    member = Paho(mqtt_broker).connected()
    try:
        pub.publish("shr/r", b"kept", qos=1, retain=True)
        member.subscribe("$share/g/shr/#", qos=1)
        member.assert_silent()
        pub.publish("shr/r", b"live", qos=1)
        assert member.get().payload == b"live"
    finally:
        pub.close()
        member.close()


def test_properties_are_forwarded_unchanged(mqtt_broker: LiveBroker) -> None:
    """User properties (in order), content type, correlation data, response topic and
    payload format indicator reach the subscriber as sent.

    MQTT-3.3.2-15 (Response Topic), MQTT-3.3.2-16 (Correlation Data), MQTT-3.3.2-17/-18
    (User Properties unchanged, order kept), MQTT-3.3.2-20 (Content Type), MQTT-3.3.2-4
    (Payload Format Indicator).
    """
    sub = Paho(mqtt_broker).connected()
    pub = Paho(mqtt_broker).connected()
    try:
        sub.subscribe("props/#", qos=1)
        user = [("b", "2"), ("a", "1"), ("b", "3")]
        sent = publish_props(
            UserProperty=user,
            ContentType="application/json",
            CorrelationData=b"\x00\x01corr",
            ResponseTopic="props/reply",
            PayloadFormatIndicator=1,
        )
        pub.publish("props/req", b"{}", qos=1, properties=sent)
        p = sub.get().properties
        assert p.UserProperty == user
        assert p.ContentType == "application/json"
        assert p.CorrelationData == b"\x00\x01corr"
        assert p.ResponseTopic == "props/reply"
        assert p.PayloadFormatIndicator == 1
    finally:
        sub.close()
        pub.close()


def test_assigned_client_identifier(mqtt_broker: LiveBroker) -> None:
    """An empty client id gets an Assigned Client Identifier in the CONNACK.

    MQTT-3.1.3-6 / MQTT-3.2.2-16; the session is held under that identifier.
    """
    c = Paho(mqtt_broker, client_id="")
    ack = c.connect()
    try:
        assigned = ack.properties.AssignedClientIdentifier
        assert assigned
        assert is_connected(mqtt_broker, assigned)
    finally:
        c.close()


def test_server_keep_alive(mqtt_broker: LiveBroker) -> None:
    """Keep Alive 0 (or above the limit) is answered with Server Keep Alive.

    MQTT-3.2.2-21: the client must use the value the server sends; the broker enforces
    it (keep alive 0 would otherwise disable the timeout).
    """
    for asked in (0, 5000):
        c = Paho(mqtt_broker)
        ack = c.connect(keepalive=asked)
        assert ack.properties.ServerKeepAlive == 600
        c.close()
    within = Paho(mqtt_broker)
    ack = within.connect(keepalive=30)
    assert not hasattr(ack.properties, "ServerKeepAlive")
    within.close()


def test_puback_no_matching_subscribers(mqtt_broker: LiveBroker) -> None:
    """PUBACK/PUBREC say 0x10 No matching subscribers when nobody got the message.

    5.0 §3.4.2.1 and §3.5.2.1 (0x10 is a success code: the message was accepted).
    """
    pub = Paho(mqtt_broker).connected()
    sub = Paho(mqtt_broker).connected()
    raw = raw_client(mqtt_broker.plain_port, "raw-0x10", keepalive=30, v5=True)
    try:
        assert pub.publish("nobody/here", b"x", qos=1) == 0x10
        # paho reports the PUBCOMP for QoS 2, so read the PUBREC on a raw socket
        raw.sendall(packet(0x34, b"\x00\x0bnobody/here\x00\x05\x00x"))
        first, body = read_packet(raw)
        assert (first, body[:3]) == (0x50, b"\x00\x05\x10")
        sub.subscribe("nobody/#", qos=1)
        assert pub.publish("nobody/here", b"x", qos=1) == 0
    finally:
        raw.close()
        pub.close()
        sub.close()


def test_receive_maximum_limits_messages_in_flight(mqtt_broker: LiveBroker) -> None:
    """The broker never has more unacknowledged QoS 1 messages out than the client's
    Receive Maximum (MQTT-3.3.4-9), and sends the rest as acknowledgements come in.
    """
    seen: list[mqtt.MQTTMessage] = []
    slow = mqtt.Client(
        CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True, client_id="slow"
    )
    slow.on_message = lambda _c, _u, m: seen.append(m)
    slow.connect("127.0.0.1", mqtt_broker.plain_port, properties=connect_props(ReceiveMaximum=2))
    slow.loop_start()
    pub = Paho(mqtt_broker).connected()
    try:
        wait_until(lambda: is_connected(mqtt_broker, "slow"))
        slow.subscribe("rm/#", qos=1)
        wait_until(lambda: _subscribed(mqtt_broker, "slow"))
        for i in range(6):
            pub.publish("rm/t", str(i), qos=1)
        wait_until(lambda: len(seen) >= 2)
        time.sleep(0.3)
        assert len(seen) == 2  # nothing beyond the window until we acknowledge
        for expected in range(6):
            wait_until(lambda e=expected: len(seen) > e)
            m = seen[expected]
            assert m.payload == str(expected).encode()
            slow.ack(m.mid, m.qos)
        assert [int(m.payload) for m in seen] == list(range(6))
    finally:
        slow.disconnect()
        slow.loop_stop()
        pub.close()


def _subscribed(lb: LiveBroker, client_id: str) -> bool:
    return lb.call(lambda: bool(lb.broker.sessions[client_id].subscriptions))


def test_maximum_packet_size_of_the_client_is_respected(mqtt_broker: LiveBroker) -> None:
    """A message larger than the client's Maximum Packet Size is not sent to it.

    MQTT-3.1.2-24/-25: the server must not send larger packets and discards the message
    for that client as if delivered.
    """
    small = Paho(mqtt_broker)
    small.connect(properties=connect_props(MaximumPacketSize=128))
    pub = Paho(mqtt_broker).connected()
    try:
        small.subscribe("mps/#", qos=1)
        pub.publish("mps/t", b"x" * 500, qos=1)
        pub.publish("mps/t", b"fits", qos=1)
        assert small.get().payload == b"fits"
        small.assert_silent(0.2)
    finally:
        small.close()
        pub.close()


def test_retained_message_expires(mqtt_broker: LiveBroker) -> None:
    """A retained message is not replayed once its Message Expiry Interval has passed.

    MQTT-3.3.2-5; an unexpired one is replayed with the remaining interval (MQTT-3.3.2-6).
    """
    pub = Paho(mqtt_broker).connected()
    try:
        pub.publish(
            "rexp/short",
            b"s",
            qos=1,
            retain=True,
            properties=publish_props(MessageExpiryInterval=1),
        )
        pub.publish(
            "rexp/long",
            b"l",
            qos=1,
            retain=True,
            properties=publish_props(MessageExpiryInterval=60),
        )
        time.sleep(1.2)
        late = Paho(mqtt_broker).connected()
        late.subscribe("rexp/#", qos=1)
        m = late.get()
        assert (m.topic, m.retain) == ("rexp/long", True)
        assert 57 <= m.properties.MessageExpiryInterval <= 59
        late.assert_silent(0.2)
        late.close()
    finally:
        pub.close()
