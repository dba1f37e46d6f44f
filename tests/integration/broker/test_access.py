"""Access control at the broker: authentication, topic policy, revocation, hub events."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleetward.crypto import SecretHasher
from fleetward.events import AuthRefused, ClientConnected, ClientDisconnected, SubscribeRefused

from ...support.broker import LiveBroker, live_broker
from ._clients import (
    ALICE,
    BOB,
    HOST,
    Paho,
    events,
    is_connected,
    mosquitto_pub,
    wait_event,
    wait_until,
)
from ._raw import (
    connect_packet,
    packet,
    read_packet,
    read_until_closed,
    subscribe_packet,
)

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


@VERSIONS
def test_anonymous_refused_on_the_tls_listener(mqtt_broker: LiveBroker, v5: bool) -> None:
    """No user name on a listener that needs one: 0x86 (3.1.1 return code 4).

    5.0 §3.2.2.2 / 3.1.1 §3.2.2.3; MQTT-3.2.2-5 (v3) / 5.0 MQTT-3.2.2-7: the server closes
    after a refusing CONNACK. paho reports 3.1.1 code 4 as 0x86.
    """
    c = Paho(mqtt_broker, v5=v5, client_id=f"anon-tls-{v5}", tls=True)
    try:
        assert c.connect().reason == 0x86
        event = wait_event(mqtt_broker, AuthRefused, client_id=f"anon-tls-{v5}")
        assert (event.listener, event.username, event.reason_code) == ("tls", None, 0x86)
        assert not is_connected(mqtt_broker, f"anon-tls-{v5}")
    finally:
        c.close()


@VERSIONS
def test_wrong_password_refused(mqtt_broker: LiveBroker, v5: bool) -> None:
    """A bad password is refused with 0x86 / return code 4 and recorded."""
    c = Paho(mqtt_broker, v5=v5, client_id=f"badpw-{v5}", user=("alice", "nope"))
    try:
        assert c.connect().reason == 0x86
        event = wait_event(mqtt_broker, AuthRefused, client_id=f"badpw-{v5}")
        assert event.username == "alice"
    finally:
        c.close()


@pytest.mark.parametrize(
    ("v5", "user", "message"),
    [
        (False, None, "bad user name or password"),
        (True, ("bob", "wrong"), "bad user name or password"),
    ],
    ids=["v311-anonymous", "v5-wrong-password"],
)
def test_mosquitto_client_is_refused(
    mqtt_broker: LiveBroker, v5: bool, user: tuple[str, str] | None, message: str
) -> None:
    """mosquitto_sub over TLS reports the refusal and exits non-zero."""
    args = ["-h", "127.0.0.1", "-p", str(mqtt_broker.tls_port), "--cafile"]
    args += [str(mqtt_broker.ca_file), "-V", "mqttv5" if v5 else "mqttv311"]
    if user is not None:
        args += ["-u", user[0], "-P", user[1]]
    done = subprocess.run(
        ["mosquitto_sub", *args, "-i", "mq-refused", "-t", "shared/x", "-C", "1", "-W", "3"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    code, out, err = done.returncode, done.stdout, done.stderr
    assert code != 0
    assert message in (out + err).lower()


@VERSIONS
def test_publish_outside_the_policy_is_refused(mqtt_broker: LiveBroker, v5: bool) -> None:
    """alice may not publish to devices/bob/x: v5 PUBACK 0x87; nothing is delivered.

    3.1.1 cannot refuse a PUBLISH in its PUBACK, so the flow completes and the message
    is dropped (v3 §4.11 / v5 §3.4.2.1 Not authorized).
    """
    alice = Paho(mqtt_broker, v5=v5, client_id=f"alice-{v5}", user=ALICE).connected()
    bob = Paho(mqtt_broker, client_id=f"bob-{v5}", user=BOB).connected()
    try:
        bob.subscribe("devices/bob/#", qos=1)
        assert alice.publish("devices/bob/x", b"intrusion", qos=1) == (0x87 if v5 else 0)
        # QoS 2: the PUBREC says 0x87 and ends the flow; paho still sends PUBREL and
        # reports the PUBCOMP's 0x92 Packet Identifier not found: a failure either way
        qos2 = alice.publish("devices/bob/y", b"intrusion", qos=2)
        if v5:
            assert qos2 is not None
            assert qos2 >= 0x80
        else:
            assert qos2 == 0
        alice.publish("devices/bob/z", b"intrusion", qos=0)
        bob.assert_silent(0.3)
        refused = mqtt_broker.call(lambda: mqtt_broker.broker.router.stats.refused)
        assert refused >= 3
        assert alice.publish("devices/alice/ok", b"fine", qos=1) in (0, 0x10)
    finally:
        alice.close()
        bob.close()


@VERSIONS
def test_subscribe_outside_the_policy_is_refused(mqtt_broker: LiveBroker, v5: bool) -> None:
    """alice may not subscribe to bob's topics nor to wildcards reaching them.

    SUBACK 0x87 (v5) / 0x80 (v3) per filter, in order (v3 MQTT-3.9.3-1, v5 MQTT-3.9.3-1);
    each refusal is a SubscribeRefused event.
    """
    alice = Paho(mqtt_broker, v5=v5, client_id=f"alice-sub-{v5}", user=ALICE).connected()
    no = 0x87 if v5 else 0x80
    try:
        codes = alice.subscribe(
            [("devices/alice/#", 1), ("devices/bob/#", 1), ("#", 0), ("devices/+/x", 0)]
        )
        assert codes == [1, no, no, no]
        refused = events(mqtt_broker, SubscribeRefused, client_id=f"alice-sub-{v5}")
        assert sorted(e.topic_filter for e in refused) == ["#", "devices/+/x", "devices/bob/#"]
        assert mqtt_broker.call(
            lambda: list(mqtt_broker.broker.sessions[f"alice-sub-{v5}"].subscriptions)
        ) == ["devices/alice/#"]
    finally:
        alice.close()


def test_nobody_publishes_to_dollar_topics(mqtt_broker: LiveBroker) -> None:
    """Clients cannot publish to ``$``-topics, nor read ``$fleet``; only the hub publishes.

    MQTT-4.7.2-1 leaves ``$``-topics to the server. Refused with PUBACK 0x87; a retained
    one is not stored.
    """
    anon = Paho(mqtt_broker).connected()
    sys_sub = Paho(mqtt_broker).connected()
    try:
        assert anon.subscribe("$fleet/#", qos=1) == [0x87]
        assert anon.subscribe("#", qos=1) == [1]  # matches no $-topic (MQTT-4.7.2-1)
        assert sys_sub.subscribe("$SYS/#", qos=1) == [1]
        assert anon.publish("$fleet/broker/state", b"forged", qos=1, retain=True) == 0x87
        assert anon.publish("$SYS/uptime", b"forged", qos=1) == 0x87
        sys_sub.assert_silent(0.3)
        retained = mqtt_broker.call(lambda: set(mqtt_broker.broker.router.retained))
        assert "$fleet/broker/state" not in retained
        # the hub itself may
        assert mqtt_broker.call(lambda: mqtt_broker.broker.publish("$SYS/uptime", b"1")) == 1
        assert sys_sub.get().payload == b"1"
        anon.assert_silent(0.2)
    finally:
        anon.close()
        sys_sub.close()


def test_mosquitto_pub_to_dollar_topic_is_refused_over_tls(mqtt_broker: LiveBroker) -> None:
    """mosquitto_pub (v5, QoS 1) learns its PUBLISH to ``$fleet`` was not authorized."""
    done = mosquitto_pub(mqtt_broker, "-t", "$fleet/x", "-m", "forged", "-q", "1", user=BOB)
    assert "not authorized" in (done.stdout + done.stderr).lower()


@VERSIONS
def test_kick_disconnects_at_once_and_stops_delivery(mqtt_broker: LiveBroker, v5: bool) -> None:
    """``broker.kick`` cuts alice off now: v5 DISCONNECT 0x98 Administrative action.

    Her session ends (end_sessions), no will is sent, and nothing more reaches her;
    other clients are untouched.
    """
    alice = Paho(mqtt_broker, v5=v5, client_id=f"kicked-{v5}", user=ALICE).connected(
        will=("devices/alice/will", b"w", 0, False, None)
    )
    watcher = Paho(mqtt_broker, client_id=f"alice-other-{v5}", user=ALICE)
    bob = Paho(mqtt_broker, client_id=f"bob-stays-{v5}", user=BOB).connected()
    try:
        alice.subscribe("devices/alice/#", qos=1)
        count = mqtt_broker.call(
            lambda: mqtt_broker.broker.kick(
                lambda s: s.identity.name == "alice" and s.client_id == f"kicked-{v5}"
            )
        )
        assert count == 1
        reason = alice.wait_disconnect()
        if v5:
            assert reason == 0x98
        event = wait_event(mqtt_broker, ClientDisconnected, client_id=f"kicked-{v5}")
        assert (event.reason, event.will_pending) == ("kicked", False)
        assert f"kicked-{v5}" not in mqtt_broker.call(lambda: set(mqtt_broker.broker.sessions))
        watcher.connected()
        watcher.subscribe("devices/alice/#", qos=1)
        watcher.publish("devices/alice/after", b"late", qos=1)
        assert watcher.get().payload == b"late"  # no will before it, only this
        alice.assert_silent(0.3)
        assert is_connected(mqtt_broker, f"bob-stays-{v5}")
    finally:
        for c in (alice, watcher, bob):
            c.close()


def test_drop_subscriptions_stops_delivery(mqtt_broker: LiveBroker) -> None:
    """``broker.drop_subscriptions`` removes the chosen filters; the client stays on."""
    bob = Paho(mqtt_broker, client_id="bob-drop", user=BOB).connected()
    pub = Paho(mqtt_broker, client_id="bob-pub", user=BOB).connected()
    try:
        bob.subscribe([("shared/#", 1), ("devices/bob/#", 1)])
        dropped = mqtt_broker.call(
            lambda: mqtt_broker.broker.drop_subscriptions(
                lambda s, f: s.client_id == "bob-drop" and f.startswith("shared/")
            )
        )
        assert dropped == 1
        pub.publish("shared/x", b"gone", qos=1)
        pub.publish("devices/bob/x", b"kept", qos=1)
        assert bob.get().payload == b"kept"
        bob.assert_silent(0.2)
        assert is_connected(mqtt_broker, "bob-drop")
    finally:
        bob.close()
        pub.close()


def test_will_topic_outside_the_policy_is_refused(mqtt_broker: LiveBroker) -> None:
    """A will on a topic the user may not publish to refuses the CONNECT with 0x87."""
    c = Paho(mqtt_broker, client_id="alice-badwill", user=ALICE)
    try:
        assert c.connect(will=("devices/bob/will", b"w", 0, False, None)).reason == 0x87
        event = wait_event(mqtt_broker, AuthRefused, client_id="alice-badwill")
        assert (event.reason_code, event.reason) == (0x87, "mqtt.will_refused")
    finally:
        c.close()


def test_connection_events(mqtt_broker: LiveBroker) -> None:
    """ClientConnected carries who, where and how; ClientDisconnected says why."""
    c = Paho(mqtt_broker, client_id="evented", user=BOB)
    c.connect(keepalive=17, clean_start=True)
    c.subscribe("shared/#", options=SubscribeOptions(qos=1))
    c.disconnect()
    up = wait_event(mqtt_broker, ClientConnected, client_id="evented")
    assert (up.identity, up.listener, up.protocol_version, up.keepalive, up.clean_start) == (
        "bob",
        "tls",
        5,
        17,
        True,
    )
    assert up.tls_version is not None
    assert up.tls_version.startswith("TLS")
    down = wait_event(mqtt_broker, ClientDisconnected, client_id="evented")
    assert (down.reason, down.identity, down.listener) == ("client_disconnect", "bob", "tls")
    wait_until(lambda: not is_connected(mqtt_broker, "evented"))


def _tls_socket(lb: LiveBroker) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, lb.tls_port), timeout=5)
    return lb.tls_context().wrap_socket(raw, server_hostname=HOST)


def test_pipelined_packets_wait_for_authentication(mqtt_broker: LiveBroker) -> None:
    """Packets sent right behind CONNECT are processed only once it is accepted.

    v5 MQTT-3.1.4-6 / v3 MQTT-3.1.4-5: CONNECT, SUBSCRIBE and PUBLISH in one TLS write;
    the CONNACK comes first, then the SUBACK, the PUBACK and the message itself.
    """
    sock = _tls_socket(mqtt_broker)
    try:
        sock.sendall(
            connect_packet("alice-pipe", keepalive=30, user=ALICE)
            + subscribe_packet(1, "devices/alice/#", 1)
            + packet(0x32, b"\x00\x0fdevices/alice/p\x00\x02hi")
        )
        kinds = [read_packet(sock)[0] for _ in range(4)]
        assert kinds[0] == 0x20
        assert sorted(kinds[1:]) == sorted([0x90, 0x40, 0x32])
        assert kinds.index(0x90) < kinds.index(0x32)  # subscribed before the message
    finally:
        sock.close()


def test_packets_after_a_refused_connect_are_ignored(mqtt_broker: LiveBroker) -> None:
    """A PUBLISH pipelined behind a refused CONNECT is never processed.

    v5 MQTT-3.1.4-6 / v3 MQTT-3.1.4-5; the refusal is the last thing sent (v3
    MQTT-3.2.2-5: the server closes after a refusing CONNACK).
    """
    watcher = Paho(mqtt_broker, client_id="alice-eyes", user=ALICE).connected()
    sock = _tls_socket(mqtt_broker)
    try:
        watcher.subscribe("devices/alice/#", qos=1)
        sock.sendall(
            connect_packet("alice-fake", keepalive=30, user=("alice", "guess"))
            + packet(0x30, b"\x00\x12devices/alice/fake" + b"forged")
        )
        assert read_until_closed(sock, 5) == [(0x20, b"\x00\x04")]  # bad user name/password
        watcher.assert_silent(0.3)
    finally:
        sock.close()
        watcher.close()


@pytest.fixture
def carol_broker(tmp_path: Path) -> Iterator[LiveBroker]:
    """A broker whose user carol is confined to ``clients/{client_id}/#``."""
    hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
    users = [
        {
            "name": "carol",
            "password_hash": hasher.hash("carol-pw"),
            "publish": ["clients/{client_id}/#"],
            "subscribe": ["clients/{client_id}/#"],
        }
    ]
    with live_broker(tmp_path / "broker", FLEETWARD_MQTT__USERS=json.dumps(users)) as b:
        yield b


@pytest.mark.parametrize("client_id", ["+", "#", "x/#"])
def test_client_id_cannot_widen_a_client_id_pattern(
    carol_broker: LiveBroker, client_id: str
) -> None:
    """A client id with wildcard characters does not turn ``clients/{client_id}/#`` into
    a wildcard grant: carol with client id ``+`` may not reach clients/victim/...
    """
    carol = Paho(carol_broker, client_id=client_id, user=("carol", "carol-pw")).connected()
    victim = Paho(carol_broker, client_id="victim", user=("carol", "carol-pw")).connected()
    try:
        victim.subscribe("clients/victim/#", qos=1)
        assert carol.subscribe("clients/victim/cmd", qos=1) == [0x87]
        assert carol.subscribe("clients/+/cmd", qos=1) == [0x87]
        assert carol.publish("clients/victim/cmd", b"forged", qos=1) == 0x87
        victim.assert_silent(0.3)
        # the pattern still works for an ordinary client id
        assert victim.publish("clients/victim/x", b"own", qos=1) == 0
        assert victim.get().payload == b"own"
    finally:
        carol.close()
        victim.close()
