"""Many packets in one read: the batched hot path keeps every per-packet rule.

A client's socket read usually holds a run of PUBLISH packets; the broker routes such a
run in one pass. These tests send mixed runs in one write and check order, QoS, RETAIN,
refusals and acknowledgements against what packet-by-packet handling guarantees.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest

from ...support.broker import LiveBroker
from ._clients import ALICE, HOST, TIMEOUT
from ._raw import (
    connect_packet,
    packet,
    raw_client,
    read_packet,
    read_until_closed,
    subscribe_packet,
)


def _publish(
    topic: str, payload: bytes, *, qos: int = 0, pid: int = 0, retain: bool = False
) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic.encode()
    if qos:
        body += pid.to_bytes(2, "big")
    return packet(0x30 | (qos << 1) | int(retain), body + payload)


def _subscriber(
    lb: LiveBroker, client_id: str, qos: int, topic_filter: str = "mix/#"
) -> socket.socket:
    sock = raw_client(lb.plain_port, client_id, keepalive=30)
    sock.sendall(subscribe_packet(1, topic_filter, qos))
    first, body = read_packet(sock)
    assert (first, body[2:]) == (0x90, bytes((qos,)))
    return sock


def _deliveries(sock: socket.socket, count: int) -> list[tuple[str, bytes, int, int]]:
    """(topic, payload, qos, retain) of ``count`` PUBLISH packets, acknowledging QoS 1."""
    out = []
    while len(out) < count:
        first, body = read_packet(sock)
        assert first >> 4 == 3, f"not a PUBLISH: {first:#x}"
        qos = (first >> 1) & 3
        n = int.from_bytes(body[:2], "big")
        topic, rest = body[2 : 2 + n].decode(), body[2 + n :]
        if qos:
            sock.sendall(b"\x40\x02" + rest[:2])
            rest = rest[2:]
        out.append((topic, rest, qos, first & 1))
    return out


def test_a_mixed_run_keeps_order_qos_retain_and_acknowledgements(mqtt_broker: LiveBroker) -> None:
    """One write with QoS 0/1, RETAIN, a refused $-topic and a PINGREQ in the middle.

    MQTT-4.6.0-2 (PUBACKs in the order the PUBLISH packets came), MQTT-4.6.0-6 (ordered
    topics), MQTT-3.3.1-12 (RETAIN 0 on live delivery for 3.1.1 subscribers),
    MQTT-4.7.2-1 ($-topics are the hub's: a 3.1.1 client's PUBLISH there is dropped).
    """
    q0 = _subscriber(mqtt_broker, "runs-q0", 0)
    q1 = _subscriber(mqtt_broker, "runs-q1", 1)
    pub = raw_client(mqtt_broker.plain_port, "runs-pub", keepalive=30)
    try:
        pub.sendall(
            _publish("mix/1", b"a")
            + _publish("mix/2", b"b", qos=1, pid=1)
            + _publish("mix/3", b"c", retain=True)
            + _publish("$fleet/broker/x", b"no", qos=1, pid=2)
            + _publish("mix/4", b"d", qos=1, pid=3)
            + packet(0xC0, b"")  # PINGREQ
            + _publish("mix/5", b"e")
            + _publish("mix/6", b"f", qos=1, pid=4)
        )
        answers = [read_packet(pub) for _ in range(5)]
        assert answers == [
            (0x40, b"\x00\x01"),
            (0x40, b"\x00\x02"),  # 3.1.1 cannot refuse: acknowledged and dropped
            (0x40, b"\x00\x03"),
            (0xD0, b""),
            (0x40, b"\x00\x04"),
        ]
        expected = [("mix/1", b"a"), ("mix/2", b"b"), ("mix/3", b"c"), ("mix/4", b"d")]
        expected += [("mix/5", b"e"), ("mix/6", b"f")]
        got0 = _deliveries(q0, 6)
        assert [(t, p) for t, p, _, _ in got0] == expected
        assert {(qos, retain) for _, _, qos, retain in got0} == {(0, 0)}
        got1 = _deliveries(q1, 6)
        assert [(t, p) for t, p, _, _ in got1] == expected
        assert [qos for _, _, qos, _ in got1] == [0, 1, 0, 1, 0, 1]
        assert {retain for _, _, _, retain in got1} == {0}
        late = _subscriber(mqtt_broker, "runs-late", 0)  # the retained one was stored
        assert _deliveries(late, 1) == [("mix/3", b"c", 0, 1)]
        late.close()
    finally:
        for s in (q0, q1, pub):
            s.close()


def test_a_protocol_error_mid_run_delivers_what_came_before(mqtt_broker: LiveBroker) -> None:
    """A Topic Alias above the maximum (MQTT-3.3.2-12) ends the connection with 0x94,
    after the packets before it in the same read were handled, and nothing after it."""
    sub = _subscriber(mqtt_broker, "runs-err-sub", 0)
    pub = raw_client(mqtt_broker.plain_port, "runs-err-pub", keepalive=30, v5=True)
    try:

        def v5_publish(topic: str, payload: bytes, props: bytes = b"") -> bytes:
            body = len(topic).to_bytes(2, "big") + topic.encode()
            return packet(0x30, body + bytes((len(props),)) + props + payload)

        pub.sendall(
            v5_publish("mix/1", b"a")
            + v5_publish("mix/2", b"b")
            + v5_publish("mix/3", b"c", b"\x23\xff\xff")  # Topic Alias 65535
            + v5_publish("mix/4", b"d")
        )
        answers = read_until_closed(pub, 5.0)
        assert answers[-1][0] == 0xE0  # DISCONNECT
        assert answers[-1][1][0] == 0x94  # Topic Alias invalid
        assert _deliveries(sub, 2) == [("mix/1", b"a", 0, 0), ("mix/2", b"b", 0, 0)]
        sub.settimeout(0.3)
        try:
            extra = sub.recv(1)
        except TimeoutError:
            extra = b""
        assert extra == b""  # nothing after the error
    finally:
        sub.close()
        pub.close()


def test_an_access_change_mid_run_applies_to_the_rest_of_the_run(mqtt_broker: LiveBroker) -> None:
    """The per-topic answer a run reuses is dropped the moment the policy changes.

    alice loses her publish rights while the broker handles the first of six PUBLISH
    packets that came in one write: the other five are refused with 0x87 (MQTT 5), and
    the subscriber gets the first one only.
    """
    hub_access = mqtt_broker.hub.access().hub
    static = hub_access._static
    alice = static._users["alice"]
    router = mqtt_broker.broker.router

    def revoke_on_first(_identity: object, _topic: str, _payload: bytes) -> None:
        router.tap = None
        static._users["alice"] = dataclasses.replace(alice, publish=())
        hub_access.changed()

    sub = _subscriber(mqtt_broker, "runs-acl-sub", 0, "devices/alice/#")
    raw = socket.create_connection((HOST, mqtt_broker.tls_port), timeout=TIMEOUT)
    pub = mqtt_broker.tls_context().wrap_socket(raw, server_hostname=HOST)
    try:
        pub.sendall(connect_packet("runs-acl-pub", keepalive=30, v5=True, user=ALICE))
        first, body = read_packet(pub)
        assert (first, body[1]) == (0x20, 0)
        mqtt_broker.call(lambda: setattr(router, "tap", revoke_on_first))
        body = b"\x00\x0fdevices/alice/t"
        pub.sendall(b"".join(packet(0x32, body + bytes((0, pid, 0, pid))) for pid in range(1, 7)))
        acks = [read_packet(pub) for _ in range(6)]
        assert acks == [(0x40, b"\x00\x01")] + [
            (0x40, bytes((0, pid, 0x87))) for pid in range(2, 7)
        ]
        assert _deliveries(sub, 1) == [("devices/alice/t", b"\x01", 0, 0)]
        sub.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sub.recv(1)
    finally:
        static._users["alice"] = alice
        mqtt_broker.call(hub_access.changed)
        sub.close()
        pub.close()
