"""Fuzzing the decoder: hostile bytes may only ever produce MQTT errors.

Random bytes and mutated valid packets are fed in random chunkings. The properties:

* nothing but a :class:`MqttError` subclass escapes ``Decoder.feed`` (no IndexError,
  UnicodeError, ValueError, ...);
* the decoder never holds more than ``max_packet_size + 5`` bytes between calls
  (bounded allocation, whatever the peer announces);
* whatever the decoder accepts is a valid packet: it re-encodes and decodes to itself.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetward.mqtt import Connect, Decoder, MqttError, Packet, ServerConnection, encode

from .mqtt_strategies import packets

_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _feed_all(decoder: Decoder, data: bytes, cuts: list[int]) -> list[Packet]:
    """Feed ``data`` cut at ``cuts``; check the bound after every call."""
    out: list[Packet] = []
    start = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            out += decoder.feed(data[start:cut])
            start = cut
            assert decoder.buffered <= decoder.max_packet_size + 5
    except MqttError:
        assert decoder.buffered <= decoder.max_packet_size + 5
    return out


def _check_reencodes(packets_out: list[Packet], version: int | None) -> None:
    for packet in packets_out:
        v = packet.protocol_version if isinstance(packet, Connect) else version
        assert v is not None
        again = Decoder(1 << 20, version=None if isinstance(packet, Connect) else v)
        assert again.feed(encode(packet, v)) == [packet]


@given(
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    version=st.sampled_from([None, 4, 5]),
    max_size=st.integers(2, 600),
)
@settings(max_examples=1000, deadline=None)
def test_random_bytes_raise_only_mqtt_errors_and_stay_bounded(
    data: bytes, cuts: list[int], version: int | None, max_size: int
) -> None:
    decoder = Decoder(max_size, version=version)
    out = _feed_all(decoder, data, [c for c in cuts if c <= len(data)])
    _check_reencodes(out, decoder.version)


_MUTATIONS = st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate"])


def _mutate(wire: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(wire)
    for op, where, value in ops:
        if not buf:
            break
        i = where % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (value % 8)
        elif op == "set":
            buf[i] = value
        elif op == "insert":
            buf.insert(i, value)
        elif op == "delete":
            del buf[i]
        elif op == "truncate":
            del buf[i:]
        else:
            buf[i:i] = buf[i : i + 1 + value % 8]
    return bytes(buf)


@given(
    version=st.sampled_from([4, 5]),
    data=st.data(),
    ops=st.lists(
        st.tuples(_MUTATIONS, st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4
    ),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
@_FUZZ
def test_mutated_valid_streams_raise_only_mqtt_errors(
    version: int,
    data: st.DataObject,
    ops: list[tuple[str, int, int]],
    cuts: list[int],
) -> None:
    stream = data.draw(st.lists(packets(version), min_size=1, max_size=3))
    wire = b"".join(encode(p, version) for p in stream)
    if data.draw(st.booleans()):
        wire = encode(Connect("fuzz", version), version) + wire
        decoder = Decoder(data.draw(st.integers(2, 1 << 12)))
    else:
        decoder = Decoder(data.draw(st.integers(2, 1 << 12)), version=version)
    mutated = _mutate(wire, ops)
    out = _feed_all(decoder, mutated, [c for c in cuts if c <= len(mutated)])
    _check_reencodes(out, decoder.version)


@given(
    data=st.binary(max_size=300),
    prefix=st.sampled_from([b"", encode(Connect("c", 4), 4), encode(Connect("c", 5), 5)]),
)
@settings(max_examples=200, deadline=None)
def test_server_connection_surfaces_only_mqtt_errors(data: bytes, prefix: bytes) -> None:
    """The connection layer adds state checks; they too raise only MQTT errors."""
    conn = ServerConnection(max_packet_size=512)
    conn.receive_data(prefix + data, now=0.0)
    try:
        while conn.next_packet() is not None:
            pass
    except MqttError as e:
        answer = conn.fail(e)
        assert isinstance(answer, bytes)
