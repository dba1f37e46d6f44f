"""An idle connection's state machine holds no buffer and no queue of its own.

A broker keeps one :class:`ServerConnection` per connected client, most of them idle
for hours, so what an idle one holds is what ten thousand of them cost.
"""

from __future__ import annotations

import tracemalloc

from fleetward.mqtt import Connack, Connect, Disconnect, ServerConnection, encode

V311 = 4


def _idle(client_id: str) -> ServerConnection:
    sc = ServerConnection(max_packet_size=65536, now=1.0)
    sc.receive_data(encode(Connect(client_id, keep_alive=3600), V311), 1.0)
    packet = sc.next_packet()
    assert isinstance(packet, Connect)
    sc.send(Connack())
    assert sc.next_packet() is None
    return sc


def test_an_idle_connection_allocates_no_buffer_or_queue() -> None:
    _idle("warm-up")  # interned names, caches
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [_idle(f"idle-{i:05d}") for i in range(1000)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_connection = sum(s.size_diff for s in after.compare_to(before, "filename")) / len(kept)
    # the machine, its decoder, the CONNECT it answered (client id, keep alive), a time
    assert per_connection < 480, per_connection


def test_a_split_packet_is_still_buffered_and_decoded() -> None:
    sc = _idle("split")
    data = encode(Disconnect(), V311)
    sc.receive_data(data[:1], 2.0)
    assert sc.next_packet() is None
    sc.receive_data(data[1:], 2.0)
    assert isinstance(sc.next_packet(), Disconnect)
