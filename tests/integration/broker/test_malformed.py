"""Protocol violations on the wire: the live broker answers each one exactly, then hangs up.

Every case sends hand-built bytes over a raw TCP socket to the anonymous plain listener
and checks the whole answer:

* MQTT 5, before the CONNECT is accepted: one CONNACK with the reason code, then close;
* MQTT 5, after the CONNACK: one DISCONNECT with the reason code, then close (5.0 §4.13);
* MQTT 3.1.1: a bare close (v3 MQTT-4.8.0-1), or the CONNACK return code 0x01/0x02 where
  3.1.1 defines one (v3 MQTT-3.1.2-2, v3 MQTT-3.1.3-8).

The broker must close the socket within :data:`CLOSE_DEADLINE`. For violations after the
CONNACK the hub event also has to name the reason, so that a 3.1.1 close caused by a
crash in the broker cannot pass for a deliberate one. After each case a fresh client
proves that the broker still serves: it connects, subscribes, publishes and receives.

Spec ids are MQTT 5.0 unless marked ``v3`` (MQTT 3.1.1).
"""

from __future__ import annotations

import queue
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleetward.events import ClientDisconnected
from fleetward.mqtt import ReasonCode

from ...support.broker import LiveBroker

V3, V5 = 4, 5
CLOSE_DEADLINE = 2.0
"""Seconds the broker may take to answer a violation and close the socket."""
MAX_REMAINING_LENGTH = 268_435_455
"""The largest Remaining Length four bytes can carry (5.0 §1.5.5, §2.1.4): 256 MiB."""

R = ReasonCode
Packet = tuple[int, bytes]
"""(first byte, body) of one MQTT control packet."""


# -- hand-built packets ------------------------------------------------------------------


def _vbi(value: int) -> bytes:
    """Minimal Variable Byte Integer (5.0 §1.5.5)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _s(text: str | bytes) -> bytes:
    """A length-prefixed string; ``bytes`` go out unchecked (for ill-formed UTF-8)."""
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def _frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _vbi(len(body)) + body


def _props(*items: bytes) -> bytes:
    """An MQTT 5 property block: Property Length, then the properties."""
    body = b"".join(items)
    return _vbi(len(body)) + body


def _connect(
    version: int,
    client_id: str | bytes = "c",
    *,
    flags: int = 0x02,
    props: bytes = b"\x00",
    tail: bytes = b"",
    name: bytes = b"MQTT",
    level: int | None = None,
) -> bytes:
    """CONNECT; ``tail`` follows the client id (will, user name, password)."""
    body = _s(name) + bytes((level or version, flags)) + b"\x00\x3c"
    if version == V5:
        body += props
    return _frame(0x10, body + _s(client_id) + tail)


def _will(
    version: int, topic: str = "wills/x", payload: bytes = b"gone", props: bytes = b"\x00"
) -> bytes:
    """The will fields of a CONNECT payload (will properties only in MQTT 5)."""
    return (props if version == V5 else b"") + _s(topic) + _s(payload)


def _publish(
    version: int,
    topic: str | bytes,
    payload: bytes = b"x",
    *,
    qos: int = 0,
    pid: int = 1,
    props: bytes = b"\x00",
    first: int | None = None,
) -> bytes:
    body = _s(topic) + (pid.to_bytes(2, "big") if qos else b"")
    if version == V5:
        body += props
    return _frame(0x30 | qos << 1 if first is None else first, body + payload)


def _subscribe(
    version: int,
    *subs: tuple[str | bytes, int],
    pid: int = 1,
    props: bytes = b"\x00",
    first: int = 0x82,
) -> bytes:
    body = pid.to_bytes(2, "big") + (props if version == V5 else b"")
    return _frame(first, body + b"".join(_s(f) + bytes((o,)) for f, o in subs))


def _unsubscribe(version: int, *filters: str, pid: int = 1, first: int = 0xA2) -> bytes:
    body = pid.to_bytes(2, "big") + (b"\x00" if version == V5 else b"")
    return _frame(first, body + b"".join(_s(f) for f in filters))


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


# -- reading what the broker sends ----------------------------------------------------------


def _split(buf: bytearray) -> Packet | None:
    """Remove and return one whole packet from the front of ``buf``, if there is one."""
    size, shift, pos = 0, 0, 1
    while True:
        if pos >= len(buf):
            return None
        byte = buf[pos]
        size |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
        assert shift < 28, f"the broker sent a bad Remaining Length: {bytes(buf[:6])!r}"
    if len(buf) < pos + size:
        return None
    packet = (buf[0], bytes(buf[pos : pos + size]))
    del buf[: pos + size]
    return packet


_PROPERTY_SIZES = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), 1),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), 2),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), 4),
}


def _read_props(body: bytes, pos: int) -> tuple[dict[int, object], int]:
    """Decode an MQTT 5 property block of a server packet: ``({id: value}, end)``."""
    length, shift = 0, 0
    while True:
        byte = body[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    stop = pos + length
    props: dict[int, object] = {}
    while pos < stop:
        ident = body[pos]
        pos += 1
        size = _PROPERTY_SIZES.get(ident)
        if size is not None:
            props[ident] = int.from_bytes(body[pos : pos + size], "big")
            pos += size
            continue
        count = 2 if ident == 0x26 else 1  # a User Property is a pair of strings
        for _ in range(count):
            n = int.from_bytes(body[pos : pos + 2], "big")
            props[ident] = body[pos + 2 : pos + 2 + n]
            pos += 2 + n
    return props, stop


class Wire:
    """One raw client socket with a small frame reader; every read has a deadline."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CLOSE_DEADLINE)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def packet(self, timeout: float = CLOSE_DEADLINE) -> Packet | None:
        """The next whole packet, or None once the broker has closed; TimeoutError else."""
        deadline = time.monotonic() + timeout
        while True:
            found = _split(self._buf)
            if found is not None:
                return found
            if not self._fill(deadline):
                assert not self._buf, f"closed in the middle of a packet: {bytes(self._buf)!r}"
                return None

    def expect(self, timeout: float = 5.0) -> Packet:
        found = self.packet(timeout)
        assert found is not None, "the broker closed the connection unexpectedly"
        return found

    def until_closed(self, timeout: float = CLOSE_DEADLINE) -> list[Packet]:
        """Every packet the broker sends before it closes; fails unless it closes in time."""
        deadline = time.monotonic() + timeout
        got: list[Packet] = []
        while True:
            try:
                found = self.packet(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                pytest.fail(f"the broker did not close within {timeout}s; it sent {got!r}")
            if found is None:
                return got
            got.append(found)

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self._buf += chunk
        return True


def _open(
    port: int, version: int, client_id: str, connect: bytes | None = None
) -> tuple[Wire, dict[int, object]]:
    """A connected raw client and its CONNACK properties (empty for 3.1.1)."""
    wire = Wire(port)
    wire.send(connect or _connect(version, client_id))
    first, body = wire.expect()
    assert first == 0x20, f"expected CONNACK, got {first:#04x}"
    assert body[1] == 0, f"CONNECT refused with {body[1]:#04x}"
    props = _read_props(body, 2)[0] if version == V5 else {}
    return wire, props


def _parse_publish(packet: Packet, version: int) -> tuple[str, bytes, int]:
    """(topic, payload, packet id) of a PUBLISH the broker sent."""
    first, body = packet
    assert first >> 4 == 3, f"expected PUBLISH, got {first:#04x}"
    n = int.from_bytes(body[:2], "big")
    topic, pos = body[2 : 2 + n].decode(), 2 + n
    pid = 0
    if first & 0x06:
        pid, pos = int.from_bytes(body[pos : pos + 2], "big"), pos + 2
    if version == V5:
        pos = _read_props(body, pos)[1]
    return topic, body[pos:], pid


def _round_trip(port: int, tag: str) -> None:
    """A fresh MQTT 5 client connects, subscribes, publishes at QoS 1 and gets its message."""
    topic = f"probe/{tag}"
    wire, _ = _open(port, V5, f"probe-{tag}")
    with wire:
        wire.send(_subscribe(V5, (topic, 1), pid=7))
        assert wire.expect() == (0x90, b"\x00\x07\x00\x01"), "SUBACK granting QoS 1"
        wire.send(_publish(V5, topic, b"still here", qos=1, pid=8))
        got = [wire.expect(), wire.expect()]
        pubacks = [p for p in got if p[0] == 0x40]
        assert len(pubacks) == 1
        assert pubacks[0][1][:2] == b"\x00\x08"
        (delivery,) = [p for p in got if p[0] >> 4 == 3]
        topic_in, payload, pid = _parse_publish(delivery, V5)
        assert (topic_in, payload) == (topic, b"still here")
        wire.send(_frame(0x40, _u16(pid)))
        wire.send(b"\xe0\x00")
        assert wire.until_closed() == []


@dataclass
class Harness:
    """The live broker plus what its event loop reported as unhandled.

    The loop's exception handler records instead of logging: an exception that escapes
    a protocol callback or a broker task is a broker bug the case must expose, and
    logging it from a finalizer on CPython 3.11 can abort pytest itself (the traceback
    formatter calls ``ast.parse`` re-entrantly, cpython gh-106905).
    """

    live: LiveBroker
    loop_errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.live.plain_port

    def assert_serves(self, tag: str) -> None:
        """No unhandled error in the broker, and a fresh client gets full service."""
        _round_trip(self.port, tag)
        assert not self.loop_errors, [
            (c.get("message"), repr(c.get("exception"))) for c in self.loop_errors
        ]


@pytest.fixture
def broker(mqtt_broker: LiveBroker) -> Harness:
    harness = Harness(mqtt_broker)
    mqtt_broker.loop.set_exception_handler(lambda _loop, ctx: harness.loop_errors.append(ctx))
    return harness


def _disconnect_event(broker: LiveBroker, client_id: str) -> ClientDisconnected:
    deadline = time.monotonic() + CLOSE_DEADLINE
    while time.monotonic() < deadline:
        for event in list(broker.events):
            if isinstance(event, ClientDisconnected) and event.client_id == client_id:
                return event
        time.sleep(0.01)
    pytest.fail(f"no ClientDisconnected event for {client_id}")


# -- violations in or before the CONNECT -------------------------------------------------------


@dataclass(frozen=True)
class Early:
    """Bytes that break the protocol before a CONNECT is accepted.

    ``answer`` is the CONNACK reason code (in ``version``'s format), or None when the
    broker must just close without sending a byte.
    """

    name: str
    data: bytes
    answer: int | None
    version: int = V5


def _flags_only(flags: int, version: int) -> bytes:
    """A CONNECT with these flags and nothing after the client id (no will fields)."""
    return _connect(version, "w", flags=flags)


_SESSION_EXPIRY_60 = b"\x11" + _u32(60)

EARLY = [
    # The first packet must be CONNECT; its protocol level is unknown, so just close.
    Early("publish-first-MQTT-3.1.0-1", _publish(V3, "a/b"), None),
    Early("pingreq-first-MQTT-3.1.0-1", b"\xc0\x00", None),
    Early("subscribe-first-MQTT-3.1.0-1", _subscribe(V3, ("a", 0)), None),
    Early("connack-first-MQTT-3.1.0-1", b"\x20\x02\x00\x00", None),
    Early("reserved-type-0-first-5.0-2.1.2", b"\x00\x00", None),
    Early("connect-flags-nibble-1-MQTT-2.1.3-1", b"\x11" + _connect(V5)[1:], None),
    Early("remaining-length-5-bytes-5.0-1.5.5", b"\x10\xff\xff\xff\xff\x7f", None),
    # CONNECT flags (MQTT-3.1.2-3, -11, -12, -13; v3 MQTT-3.1.2-3, -13, -14, -15).
    Early("v5-reserved-connect-flag-MQTT-3.1.2-3", _connect(V5, flags=0x03), R.MALFORMED_PACKET),
    Early("v3-reserved-connect-flag-MQTT-3.1.2-3", _connect(V3, flags=0x03), None, V3),
    Early(
        "v5-will-qos-3-MQTT-3.1.2-12",
        _connect(V5, flags=0x1E, tail=_will(V5)),
        R.MALFORMED_PACKET,
    ),
    Early("v3-will-qos-3-v3-MQTT-3.1.2-14", _connect(V3, flags=0x1E, tail=_will(V3)), None, V3),
    Early("v5-will-retain-without-will-MQTT-3.1.2-13", _flags_only(0x22, V5), R.MALFORMED_PACKET),
    Early("v3-will-retain-without-will-v3-MQTT-3.1.2-15", _flags_only(0x22, V3), None, V3),
    Early("v5-will-qos-without-will-MQTT-3.1.2-11", _flags_only(0x0A, V5), R.MALFORMED_PACKET),
    Early("v3-will-qos-without-will-v3-MQTT-3.1.2-13", _flags_only(0x0A, V3), None, V3),
    Early(
        "v3-password-without-user-name-v3-MQTT-3.1.2-22",
        _connect(V3, flags=0x42, tail=_s("pw")),
        None,
        V3,
    ),
    # Client identifier strings (MQTT-1.5.4-1/2; v3 MQTT-1.5.3-1/2).
    Early("v5-client-id-bad-utf8-MQTT-1.5.4-1", _connect(V5, b"\xc3\x28"), R.MALFORMED_PACKET),
    Early("v3-client-id-bad-utf8-v3-MQTT-1.5.3-1", _connect(V3, b"\xc3\x28"), None, V3),
    Early("v5-client-id-surrogate-MQTT-1.5.4-1", _connect(V5, b"\xed\xa0\x80"), R.MALFORMED_PACKET),
    Early("v5-client-id-nul-MQTT-1.5.4-2", _connect(V5, b"a\x00b"), R.MALFORMED_PACKET),
    Early("v3-client-id-nul-v3-MQTT-1.5.3-2", _connect(V3, b"a\x00b"), None, V3),
    Early(
        "v5-client-id-runs-past-packet-5.0-1.5.4",
        _frame(0x10, _connect(V5)[2:-3] + b"\x00\x0aab"),
        R.MALFORMED_PACKET,
    ),
    Early(
        "v3-empty-client-id-without-clean-session-v3-MQTT-3.1.3-8",
        _connect(V3, "", flags=0x00),
        0x02,
        V3,
    ),
    # Protocol name and level (MQTT-3.1.2-1/2; v3 MQTT-3.1.2-1/2).
    Early(
        "v5-wrong-protocol-name-MQTT-3.1.2-1",
        _connect(V5, name=b"MQTX"),
        R.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    Early("v3-wrong-protocol-name-v3-MQTT-3.1.2-1", _connect(V3, name=b"MQTX"), 0x01, V3),
    Early("v5-level-6-MQTT-3.1.2-2", _connect(V5, level=6), R.UNSUPPORTED_PROTOCOL_VERSION),
    Early("v3-level-3-v3-MQTT-3.1.2-2", _connect(V3, level=3), 0x01, V3),
    Early("mqtt-3.1-MQIsdp-v3-MQTT-3.1.2-2", _connect(V3, name=b"MQIsdp", level=3), 0x01, V3),
    # MQTT 5 CONNECT properties (5.0 §2.2.2.2, §3.1.2.11).
    Early(
        "v5-connect-unknown-property-5.0-2.2.2.2",
        _connect(V5, props=_props(b"\x05\x01")),
        R.MALFORMED_PACKET,
    ),
    Early(
        "v5-connect-property-not-for-connect-5.0-2.2.2.2",
        _connect(V5, props=_props(b"\x23" + _u16(1))),
        R.MALFORMED_PACKET,
    ),
    Early(
        "v5-connect-duplicate-session-expiry-5.0-3.1.2.11.2",
        _connect(V5, props=_props(_SESSION_EXPIRY_60, _SESSION_EXPIRY_60)),
        R.PROTOCOL_ERROR,
    ),
    Early(
        "v5-connect-receive-maximum-0-5.0-3.1.2.11.3",
        _connect(V5, props=_props(b"\x21" + _u16(0))),
        R.PROTOCOL_ERROR,
    ),
    Early(
        "v5-connect-auth-data-without-method-5.0-3.1.2.11.10",
        _connect(V5, props=_props(b"\x16" + _s(b"data"))),
        R.PROTOCOL_ERROR,
    ),
    Early(
        "v5-connect-auth-method-not-offered-MQTT-4.12.0-1",
        _connect(V5, props=_props(b"\x15" + _s("SCRAM-SHA-1"))),
        R.BAD_AUTHENTICATION_METHOD,
    ),
    Early(
        "v5-will-payload-format-1-not-utf8-5.0-3.1.3.2.3",
        _connect(V5, flags=0x06, tail=_will(V5, payload=b"\xff\xfe", props=_props(b"\x01\x01"))),
        R.PAYLOAD_FORMAT_INVALID,
    ),
    Early(
        "v5-connect-padded-remaining-length-MQTT-1.5.5-1",
        b"\x10" + bytes((_connect(V5)[1] | 0x80, 0x00)) + _connect(V5)[2:],
        R.MALFORMED_PACKET,
    ),
]


@pytest.mark.parametrize("case", EARLY, ids=[c.name for c in EARLY])
def test_violation_before_connack(broker: Harness, case: Early) -> None:
    """The CONNACK that 5.0 §4.13 / v3 §3.2.2.3 prescribe (or none), then a close."""
    with Wire(broker.port) as wire:
        wire.send(case.data)
        got = wire.until_closed()
    if case.answer is None:
        assert got == [], "no CONNACK when the client's protocol cannot carry the reason"
    else:
        assert len(got) == 1, got
        first, body = got[0]
        assert first == 0x20, f"expected CONNACK, got {first:#04x}"
        assert body[0] == 0, "Session Present must be 0 on a refusal (MQTT-3.2.2-6)"
        assert body[1] == case.answer, f"reason {body[1]:#04x}, expected {case.answer:#04x}"
        if case.version == V3:
            assert len(body) == 2, "a 3.1.1 CONNACK has exactly two bytes"
    broker.assert_serves(case.name)


# -- violations after the CONNACK ---------------------------------------------------------------

Build = Callable[[int, dict[int, object]], bytes]
"""(protocol version, CONNACK properties) -> the offending bytes."""


@dataclass(frozen=True)
class Late:
    """Bytes that break the protocol after a successful CONNECT.

    ``codes`` maps each protocol version the case applies to onto the reason code: the
    DISCONNECT's in MQTT 5, and in 3.1.1 (where the wire only shows a close) the reason
    the broker records for the close.
    """

    name: str
    build: Build
    codes: dict[int, int]


def _both(code: int) -> dict[int, int]:
    return {V3: code, V5: code}


def _fixed(data: bytes) -> Build:
    return lambda _v, _p: data


def _pub(topic: str | bytes, *, qos: int = 0, pid: int = 1, first: int | None = None) -> Build:
    return lambda v, _p: _publish(v, topic, qos=qos, pid=pid, first=first)


def _pub_props(*items: bytes, topic: str | bytes = "t", payload: bytes = b"x") -> Build:
    return lambda v, _p: _publish(v, topic, payload, props=_props(*items))


def _alias_above_maximum(version: int, props: dict[int, object]) -> bytes:
    maximum = props.get(0x22, 0)
    assert isinstance(maximum, int)
    return _publish(version, "a/b", props=_props(b"\x23" + _u16(maximum + 1)))


def _connack_v(version: int) -> bytes:
    return b"\x20\x03\x00\x00\x00" if version == V5 else b"\x20\x02\x00\x00"


def _suback_v(version: int) -> bytes:
    return _frame(0x90, b"\x00\x01" + (b"\x00" if version == V5 else b"") + b"\x00")


def _unsuback_v(version: int) -> bytes:
    return _frame(0xB0, b"\x00\x01" + (b"\x00\x00" if version == V5 else b""))


MALFORMED, PROTOCOL = R.MALFORMED_PACKET, R.PROTOCOL_ERROR

LATE = [
    # Framing (5.0 §1.5.5, §2.1.4: at most four Remaining Length bytes; MQTT-1.5.5-1).
    Late(
        "remaining-length-5-bytes-5.0-2.1.4", _fixed(b"\x30\xff\xff\xff\xff\x01"), _both(MALFORMED)
    ),
    Late("padded-remaining-length-MQTT-1.5.5-1", _fixed(b"\xc0\x80\x00"), {V5: MALFORMED}),
    Late("reserved-packet-type-0-5.0-2.1.2", _fixed(b"\x00\x00"), _both(MALFORMED)),
    Late("auth-packet-in-3.1.1-v3-2.2.1", _fixed(b"\xf0\x00"), {V3: MALFORMED}),
    Late("pingreq-with-a-body-5.0-3.12", _fixed(b"\xc0\x01\x00"), _both(MALFORMED)),
    # Reserved fixed-header flags (MQTT-2.1.3-1; v3 MQTT-2.2.2-1, v3 MQTT-2.2.2-2: close).
    Late(
        "subscribe-flags-0-MQTT-2.1.3-1",
        lambda v, _p: _subscribe(v, ("a", 0), first=0x80),
        _both(MALFORMED),
    ),
    Late(
        "unsubscribe-flags-0-MQTT-2.1.3-1",
        lambda v, _p: _unsubscribe(v, "a", first=0xA0),
        _both(MALFORMED),
    ),
    Late("pubrel-flags-0-MQTT-2.1.3-1", _fixed(b"\x60\x02\x00\x01"), _both(MALFORMED)),
    Late("puback-flags-1-MQTT-2.1.3-1", _fixed(b"\x41\x02\x00\x01"), _both(MALFORMED)),
    Late("pingreq-flags-4-MQTT-2.1.3-1", _fixed(b"\xc4\x00"), _both(MALFORMED)),
    Late("disconnect-flags-2-MQTT-2.1.3-1", _fixed(b"\xe2\x00"), _both(MALFORMED)),
    # PUBLISH fixed header (MQTT-3.3.1-2, MQTT-3.3.1-4) and packet id (MQTT-2.2.1-3).
    Late("publish-qos-3-MQTT-3.3.1-4", _pub("a/b", first=0x36), _both(MALFORMED)),
    Late("publish-dup-on-qos-0-MQTT-3.3.1-2", _pub("a/b", first=0x38), _both(MALFORMED)),
    Late("publish-qos1-packet-id-0-MQTT-2.2.1-3", _pub("a/b", qos=1, pid=0), _both(PROTOCOL)),
    Late("publish-qos2-packet-id-0-MQTT-2.2.1-3", _pub("a/b", qos=2, pid=0), _both(PROTOCOL)),
    # PUBLISH topic names (MQTT-3.3.2-2, MQTT-1.5.4-1/2, 5.0 §3.3.2.3.4, v3 MQTT-4.7.3-1).
    Late("publish-topic-plus-MQTT-3.3.2-2", _pub("a/+/c"), _both(R.TOPIC_NAME_INVALID)),
    Late("publish-topic-hash-MQTT-3.3.2-2", _pub("a/#"), _both(R.TOPIC_NAME_INVALID)),
    Late("publish-topic-bad-utf8-MQTT-1.5.4-1", _pub(b"a/\xff\xfe"), _both(MALFORMED)),
    Late("publish-topic-surrogate-MQTT-1.5.4-1", _pub(b"a/\xed\xbf\xbf"), _both(MALFORMED)),
    Late("publish-topic-nul-MQTT-1.5.4-2", _pub(b"a/\x00b"), _both(MALFORMED)),
    Late(
        "publish-empty-topic-no-alias-5.0-3.3.2.3.4",
        _pub(""),
        {V3: R.TOPIC_NAME_INVALID, V5: PROTOCOL},
    ),
    Late("publish-topic-overlong-utf8-MQTT-1.5.4-1", _pub(b"a/\xc0\xaf"), _both(MALFORMED)),
    Late(
        "publish-above-maximum-packet-size-MQTT-3.2.2-15",
        _fixed(b"\x30" + _vbi(300_000)),
        _both(R.PACKET_TOO_LARGE),
    ),
    Late(
        "publish-topic-runs-past-packet-5.0-1.5.4",
        _fixed(_frame(0x30, b"\x00\x20a/b")),
        _both(MALFORMED),
    ),
    # MQTT 5 PUBLISH properties.
    Late("v5-topic-alias-0-MQTT-3.3.2-8", _pub_props(b"\x23" + _u16(0)), {V5: 0x94}),
    Late("v5-topic-alias-above-maximum-MQTT-3.3.2-9", _alias_above_maximum, {V5: 0x94}),
    Late(
        "v5-empty-topic-unknown-alias-5.0-3.3.2.3.4",
        _pub_props(b"\x23" + _u16(1), topic=""),
        {V5: PROTOCOL},
    ),
    Late("v5-publish-unknown-property-5.0-2.2.2.2", _pub_props(b"\x05\x01"), {V5: MALFORMED}),
    Late(
        "v5-publish-property-not-for-publish-5.0-2.2.2.2",
        _pub_props(_SESSION_EXPIRY_60),
        {V5: MALFORMED},
    ),
    Late(
        "v5-publish-duplicate-payload-format-5.0-3.3.2.3.2",
        _pub_props(b"\x01\x00", b"\x01\x00"),
        {V5: PROTOCOL},
    ),
    Late(
        "v5-payload-format-1-not-utf8-5.0-3.3.2.3.2",
        _pub_props(b"\x01\x01", payload=b"\xc3\x28"),
        {V5: R.PAYLOAD_FORMAT_INVALID},
    ),
    Late(
        "v5-publish-subscription-identifier-MQTT-3.3.4-6",
        _pub_props(b"\x0b\x01"),
        {V5: PROTOCOL},
    ),
    Late(
        "v5-response-topic-wildcard-MQTT-3.3.2-14",
        _pub_props(b"\x08" + _s("reply/#")),
        {V5: PROTOCOL},
    ),
    # SUBSCRIBE and UNSUBSCRIBE.
    Late(
        "subscribe-packet-id-0-MQTT-2.2.1-3",
        lambda v, _p: _subscribe(v, ("a", 0), pid=0),
        _both(PROTOCOL),
    ),
    Late(
        "subscribe-no-filters-MQTT-3.8.3-2-v3-MQTT-3.8.3-3",
        lambda v, _p: _subscribe(v),
        _both(PROTOCOL),
    ),
    Late(
        "unsubscribe-packet-id-0-MQTT-2.2.1-3",
        lambda v, _p: _unsubscribe(v, "a", pid=0),
        _both(PROTOCOL),
    ),
    Late("unsubscribe-no-filters-MQTT-3.10.3-2", lambda v, _p: _unsubscribe(v), _both(PROTOCOL)),
    Late(
        "v5-subscribe-reserved-option-bits-MQTT-3.8.3-5",
        lambda v, _p: _subscribe(v, ("a", 0x40)),
        {V5: MALFORMED},
    ),
    Late(
        "v3-subscribe-reserved-option-bits-v3-MQTT-3.8.3-4",
        lambda v, _p: _subscribe(v, ("a", 0x04)),
        {V3: MALFORMED},
    ),
    Late(
        "v5-subscribe-maximum-qos-3-5.0-3.8.3.1",
        lambda v, _p: _subscribe(v, ("a", 0x03)),
        {V5: PROTOCOL},
    ),
    Late(
        "v3-subscribe-qos-3-v3-MQTT-3.8.3-4",
        lambda v, _p: _subscribe(v, ("a", 0x03)),
        {V3: MALFORMED},
    ),
    Late(
        "v5-subscribe-retain-handling-3-5.0-3.8.3.1",
        lambda v, _p: _subscribe(v, ("a", 0x30)),
        {V5: PROTOCOL},
    ),
    Late(
        "v5-shared-subscription-no-local-MQTT-3.8.3-4",
        lambda v, _p: _subscribe(v, ("$share/g/a/+", 0x04)),
        {V5: PROTOCOL},
    ),
    # Packets only a server sends (5.0 §2.1.2 Table 2-1, direction).
    Late("client-sends-connack-5.0-3.2", lambda v, _p: _connack_v(v), _both(PROTOCOL)),
    Late("client-sends-suback-5.0-3.9", lambda v, _p: _suback_v(v), _both(PROTOCOL)),
    Late("client-sends-unsuback-5.0-3.11", lambda v, _p: _unsuback_v(v), _both(PROTOCOL)),
    Late("client-sends-pingresp-5.0-3.13", _fixed(b"\xd0\x00"), _both(PROTOCOL)),
    # Session rules.
    Late("second-connect-MQTT-3.1.0-2", lambda v, _p: _connect(v, "again"), _both(PROTOCOL)),
    # MQTT-3.1.2-32: without an Authentication Method in CONNECT the client MUST NOT
    # send AUTH; breaking a MUST NOT of the protocol is a Protocol Error (0x82).
    Late(
        "v5-auth-without-enhanced-auth-MQTT-3.1.2-32",
        _fixed(_frame(0xF0, b"\x19" + _props(b"\x15" + _s("SCRAM-SHA-1")))),
        {V5: PROTOCOL},
    ),
    Late(
        "v5-disconnect-session-expiry-after-zero-5.0-3.14.2.2.2",
        _fixed(_frame(0xE0, b"\x00" + _props(_SESSION_EXPIRY_60))),
        {V5: PROTOCOL},
    ),
]

_LATE_PARAMS = [
    pytest.param(case, version, id=f"{case.name}-v{version}".replace("v4", "v3.1.1"))
    for case in LATE
    for version in sorted(case.codes)
]


@pytest.mark.parametrize(("case", "version"), _LATE_PARAMS)
def test_violation_after_connack(broker: Harness, case: Late, version: int) -> None:
    """MQTT 5: one DISCONNECT with the reason code; 3.1.1: a bare close. Then it serves on."""
    code = case.codes[version]
    client_id = f"late-{case.name}-{version}"
    wire, props = _open(broker.port, version, client_id)
    with wire:
        wire.send(case.build(version, props))
        got = wire.until_closed()
    if version == V5:
        assert len(got) == 1, got
        first, body = got[0]
        assert first == 0xE0, f"expected DISCONNECT, got {first:#04x}"
        assert body[0] == code, f"reason {body[0]:#04x}, expected {code:#04x}"
    else:
        assert got == [], "3.1.1 has no DISCONNECT from the server: just close"
    event = _disconnect_event(broker.live, client_id)
    assert event.reason.startswith("protocol_error"), event
    assert event.reason_code == code, f"recorded {event.reason_code!r}, expected {code:#04x}"
    broker.assert_serves(f"{case.name}-{version}")


def test_receive_maximum_exceeded(broker: Harness) -> None:
    """One QoS 2 PUBLISH more than the announced Receive Maximum: DISCONNECT 0x93.

    MQTT-3.3.4-7 (5.0 §3.3.4): the client may not have more than Receive Maximum QoS 1/2
    PUBLISH packets unacknowledged; a PUBREC below 0x80 leaves them unacknowledged until
    PUBCOMP.
    """
    wire, props = _open(broker.port, V5, "receive-max")
    maximum = props.get(0x21, 65_535)
    assert isinstance(maximum, int)
    with wire:
        wire.send(b"".join(_publish(V5, "rm/t", qos=2, pid=i) for i in range(1, maximum + 2)))
        got = wire.until_closed(timeout=10)
    assert [p[0] for p in got[:-1]] == [0x50] * maximum, "a PUBREC for each allowed PUBLISH"
    assert got[-1][0] == 0xE0
    assert got[-1][1][0] == R.RECEIVE_MAXIMUM_EXCEEDED
    broker.assert_serves("receive-max")


# -- a CONNECT too large to read ----------------------------------------------------------------


@pytest.mark.parametrize("announced", [300_000, MAX_REMAINING_LENGTH], ids=["300kB", "256MiB"])
@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_oversized_connect_is_refused_before_its_body(
    broker: Harness, version: int, announced: int
) -> None:
    """A CONNECT announcing more than the maximum packet size is refused at once.

    300 MB cannot even be framed (the Remaining Length tops out at 256 MiB, 5.0 §1.5.5), so
    the largest value stands in for it. Only the fixed header and the protocol name and
    level are sent; the broker must answer (MQTT 5: CONNACK 0x95, 5.0 §3.2.2.2; 3.1.1: a
    close) and hang up without waiting for the body it would have to buffer.
    """
    with Wire(broker.port) as wire:
        wire.send(b"\x10" + _vbi(announced) + _s("MQTT") + bytes((version,)))
        got = wire.until_closed()
    if version == V5:
        assert len(got) == 1, got
        assert got[0][0] == 0x20, "a CONNACK"
        assert got[0][1][:2] == b"\x00\x95", "Packet Too Large, no session"
    else:
        assert got == []
    broker.assert_serves(f"oversized-{version}-{announced}")


def test_oversized_fixed_header_alone_is_dropped(broker: Harness) -> None:
    """Only the five-byte fixed header of a 256 MiB CONNECT: the broker hangs up at once.

    No protocol level has arrived, so no CONNACK format is known; closing is the answer.
    """
    with Wire(broker.port) as wire:
        wire.send(b"\x10" + _vbi(MAX_REMAINING_LENGTH))
        assert wire.until_closed() == []
    broker.assert_serves("oversized-header")


# -- wills after a violation or a truncated packet ---------------------------------------------


def _watch(port: int, tag: str, topic_filter: str = "wills/#") -> Wire:
    """A raw MQTT 5 subscriber to ``topic_filter`` at QoS 0."""
    wire, _ = _open(port, V5, f"watcher-{tag}")
    wire.send(_subscribe(V5, (topic_filter, 0), pid=3))
    assert wire.expect() == (0x90, b"\x00\x03\x00\x00")
    return wire


def _publish_once(port: int, tag: str, topic: str, payload: bytes) -> None:
    wire, _ = _open(port, V5, f"sentinel-{tag}")
    with wire:
        wire.send(_publish(V5, topic, payload) + b"\xe0\x00")
        assert wire.until_closed() == []


def _next_delivery(watcher: Wire) -> tuple[str, bytes]:
    topic, payload, _ = _parse_publish(watcher.expect(), V5)
    return topic, payload


@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_truncated_packet_then_close_publishes_the_will(broker: Harness, version: int) -> None:
    """Half a PUBLISH, then the client closes: the broker closes too and sends the will.

    MQTT-3.1.2-8 (v3 MQTT-3.1.2-8): a connection that ends without DISCONNECT publishes
    the will; the partial packet is discarded, never routed.
    """
    client_id = f"truncated-{version}"
    with _watch(broker.port, client_id) as watcher:
        connect = _connect(version, client_id, flags=0x06, tail=_will(version, f"wills/{version}"))
        wire, _ = _open(broker.port, version, client_id, connect)
        with wire:
            wire.send(_publish(version, "wills/never", b"half", qos=1)[:7])
            wire.sock.shutdown(socket.SHUT_WR)
            assert wire.until_closed() == []
        topic, payload, _ = _parse_publish(watcher.expect(), V5)
        assert (topic, payload) == (f"wills/{version}", b"gone")
    event = _disconnect_event(broker.live, client_id)
    assert event.will_pending
    broker.assert_serves(client_id)


@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_protocol_error_publishes_the_will(broker: Harness, version: int) -> None:
    """A close for a protocol error is not a DISCONNECT: the will goes out (MQTT-3.1.2-8)."""
    client_id = f"violator-{version}"
    with _watch(broker.port, client_id) as watcher:
        connect = _connect(version, client_id, flags=0x06, tail=_will(version, f"wills/{version}"))
        wire, _ = _open(broker.port, version, client_id, connect)
        with wire:
            wire.send(_publish(version, "a/b", first=0x36))
            wire.until_closed()
        topic, payload, _ = _parse_publish(watcher.expect(), V5)
        assert (topic, payload) == (f"wills/{version}", b"gone")


# -- many bad clients at once -------------------------------------------------------------------

STORM = 200


def _garbage(rng: random.Random, index: int) -> tuple[bytes, bool]:
    """(bytes to send, whether to half-close afterwards) for storm connection ``index``."""
    kind = index % 5
    version = V5 if index % 2 else V3
    if kind == 0:  # noise whose first byte is not a CONNECT
        first = rng.choice([b for b in range(256) if b >> 4 != 1])
        return bytes((first,)) + rng.randbytes(rng.randrange(0, 64)), False
    if kind == 1:  # a proper CONNECT, then a violation
        case = rng.choice(
            [c for c in LATE if version in c.codes and c.build is not _alias_above_maximum]
        )
        return _connect(version, f"storm-{index}") + case.build(version, {}), False
    if kind == 2:  # a CONNECT that claims 256 MiB
        return b"\x10" + _vbi(MAX_REMAINING_LENGTH) + _s("MQTT") + bytes((version,)), False
    if kind == 3:  # a CONNECT cut short, then half-closed
        data = _connect(version, f"storm-{index}")
        return data[: rng.randrange(1, len(data))], True
    return b"\x10\xff\xff\xff\xff\x7f", False  # five Remaining Length bytes


def _storm(port: int, blobs: list[tuple[bytes, bool]], result: dict[str, object]) -> None:
    """Open every connection first, send all the garbage, then wait for every close."""
    sel = selectors.DefaultSelector()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in blobs]
    try:
        for sock, (data, half_close) in zip(socks, blobs, strict=True):
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        open_count = len(socks)
        deadline = time.monotonic() + 15
        while open_count and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    sel.unregister(conn)
                    open_count -= 1
        result["still_open"] = open_count
    finally:
        sel.close()
        for sock in socks:
            sock.close()


def test_garbage_storm_leaves_a_good_client_undisturbed(broker: Harness) -> None:
    """~200 connections send garbage at once; a paho client keeps its QoS 1 exchange going.

    Every bad connection must be closed by the broker, every good message must arrive in
    order and promptly, and no bad connection may be left behind in the broker.
    """
    rng = random.Random(0xF1EE7)
    blobs = [_garbage(rng, i) for i in range(STORM)]
    got: queue.Queue[bytes] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="steady", protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: got.put(bytes(m.payload))
    client.connect("127.0.0.1", broker.port, keepalive=30)
    client.loop_start()
    try:
        result, _mid = client.subscribe("steady/t", qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        time.sleep(0.1)  # let the SUBACK land before the first publish
        outcome: dict[str, object] = {}
        storm = threading.Thread(target=_storm, args=(broker.port, blobs, outcome))
        storm.start()
        sent = 0
        while storm.is_alive() or sent < 20:
            payload = f"msg-{sent}".encode()
            client.publish("steady/t", payload, qos=1).wait_for_publish(5)
            assert got.get(timeout=5) == payload
            sent += 1
        storm.join()
        assert outcome.get("still_open") == 0, f"{outcome.get('still_open')} bad clients not closed"
        _wait_for(lambda: broker.live.call(lambda: len(broker.live.broker.connections)) == 1)
    finally:
        client.loop_stop()
        client.disconnect()
    broker.assert_serves("after-storm")


def _wait_for(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- what comes behind a refusal, a DISCONNECT or a CONNECT -------------------------------------


@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_nothing_pipelined_behind_a_refused_connect_is_processed(
    broker: Harness, version: int
) -> None:
    """MQTT-3.1.4-6 (v3 MQTT-3.1.4-5): no packet behind a CONNECT is processed unless the
    CONNECT is accepted. Bad credentials are refused (v5 0x86, v3 0x04) and the PUBLISH
    sent with them is never routed: the watcher's first message is a later sentinel."""
    tag = f"refused-{version}"
    with _watch(broker.port, tag, "secret/#") as watcher:
        with Wire(broker.port) as wire:
            login = _s("nobody") + _s("pw")
            leak = _publish(version, "secret/leak", b"leak")
            wire.send(_connect(version, "intruder", flags=0xC2, tail=login) + leak)
            got = wire.until_closed()
        assert len(got) == 1, got
        assert got[0][0] == 0x20
        assert got[0][1][:2] == (b"\x00\x86" if version == V5 else b"\x00\x04")
        _publish_once(broker.port, tag, "secret/sentinel", b"ok")
        assert _next_delivery(watcher) == ("secret/sentinel", b"ok")
    broker.assert_serves(tag)


@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_nothing_after_disconnect_is_processed(broker: Harness, version: int) -> None:
    """MQTT-3.14.4-1/2: nothing may follow a DISCONNECT, and the broker acts on nothing
    that does; a normal DISCONNECT also discards the will (MQTT-3.14.4-3, v3
    MQTT-3.14.4-3)."""
    tag = f"after-disconnect-{version}"
    with _watch(broker.port, tag, "secret/#") as watcher:
        will = _will(version, "secret/will")
        wire, _ = _open(broker.port, version, tag, _connect(version, tag, flags=0x06, tail=will))
        with wire:
            wire.send(b"\xe0\x00" + _publish(version, "secret/after", b"late"))
            assert wire.until_closed() == []
        _publish_once(broker.port, tag, "secret/sentinel", b"ok")
        assert _next_delivery(watcher) == ("secret/sentinel", b"ok")
    broker.assert_serves(tag)


@pytest.mark.parametrize("version", [V3, V5], ids=["v3.1.1", "v5"])
def test_second_connect_pipelined_behind_the_first(broker: Harness, version: int) -> None:
    """Two CONNECTs in one write: the first is accepted, the second is the protocol error
    of MQTT-3.1.0-2, answered after the CONNACK (v5 DISCONNECT 0x82; 3.1.1 a close)."""
    with Wire(broker.port) as wire:
        wire.send(_connect(version, "twice") + _connect(version, "twice"))
        got = wire.until_closed()
    assert got[0][0] == 0x20
    assert got[0][1][:2] == b"\x00\x00", "the first CONNECT is accepted"
    if version == V5:
        assert [(first, body[:1]) for first, body in got[1:]] == [(0xE0, b"\x82")]
    else:
        assert got[1:] == []
    broker.assert_serves(f"pipelined-connect-{version}")
