"""Round trips: ``decode(encode(p)) == p`` for every packet type in MQTT 3.1.1 and 5.0."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetward.mqtt import Connect, Decoder, Packet, Properties, encode
from fleetward.mqtt.properties import PROPERTY_SPECS, PropertySpec
from fleetward.mqtt.property_codec import decode_properties, encode_properties

from .mqtt_strategies import PACKET_KINDS, packets, properties_for

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_CASES = [(v, kind) for v in (4, 5) for kind in PACKET_KINDS if not (v == 4 and kind == "AUTH")]


def _decode_one(packet: Packet, data: bytes, version: int) -> Packet:
    decoder = Decoder(1 << 20, version=None if isinstance(packet, Connect) else version)
    decoded = decoder.feed(data)
    assert len(decoded) == 1
    assert decoder.buffered == 0
    return decoded[0]


@pytest.mark.parametrize(("version", "kind"), _CASES, ids=[f"v{v}-{k}" for v, k in _CASES])
@given(data=st.data())
@_SETTINGS
def test_every_packet_type_round_trips(version: int, kind: str, data: st.DataObject) -> None:
    """Encoding then decoding gives the same packet (5.0 §3, 3.1.1 §3)."""
    packet = data.draw(packets(version, kind))
    wire = encode(packet, version)
    assert _decode_one(packet, wire, version) == packet
    # Encoding is deterministic, so the bytes round-trip too.
    assert encode(_decode_one(packet, wire, version), version) == wire


@pytest.mark.parametrize("version", [4, 5])
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_a_stream_of_packets_decodes_in_order_across_any_chunking(
    version: int, data: st.DataObject
) -> None:
    """MQTT-6.0.0-2 spirit: packet boundaries need not align with reads."""
    connect = data.draw(packets(version, "CONNECT"))
    rest = data.draw(
        st.lists(packets(version).filter(lambda p: not isinstance(p, Connect)), max_size=6)
    )
    stream = [connect, *rest]
    wire = b"".join(encode(p, version) for p in stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    decoder = Decoder(1 << 20)
    out: list[Packet] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[start:cut])
        start = cut
    assert out == stream
    assert decoder.buffered == 0
    assert decoder.version == version


@pytest.mark.parametrize("spec", PROPERTY_SPECS, ids=[s.name for s in PROPERTY_SPECS])
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_every_v5_property_round_trips_in_every_packet_that_allows_it(
    spec: PropertySpec, data: st.DataObject
) -> None:
    """Each row of 5.0 Table 2-4, in each packet it is allowed in."""
    packet_type = data.draw(st.sampled_from(sorted(spec.packets)))
    props = data.draw(
        properties_for(packet_type).filter(lambda p: getattr(p, spec.name) not in (None, ()))
    )
    wire = encode_properties(props, packet_type)
    decoded, end = decode_properties(wire, 0, len(wire), packet_type)
    assert decoded == props
    assert end == len(wire)
    assert isinstance(decoded, Properties)
