"""The bounded offline queue: order kept, oldest dropped and counted, ack-then-remove."""

from __future__ import annotations

import pytest

from fleetward.device import OfflineQueue, Outgoing
from fleetward.errors import InvalidInputError


def _m(n: int) -> Outgoing:
    return Outgoing("devices/d/telemetry/t", str(n).encode())


def _drain(q: OfflineQueue) -> list[bytes]:
    out = []
    while (m := q.peek()) is not None:
        out.append(m.payload)
        q.done(m)
    return out


def test_fifo_order() -> None:
    q = OfflineQueue(10)
    for n in range(5):
        q.put(_m(n))
    assert len(q) == 5
    assert _drain(q) == [b"0", b"1", b"2", b"3", b"4"]
    assert q.dropped == 0


def test_full_queue_drops_the_oldest_and_counts() -> None:
    q = OfflineQueue(3)
    for n in range(7):
        q.put(_m(n))
    assert q.dropped == 4
    assert _drain(q) == [b"4", b"5", b"6"]


def test_a_message_stays_until_acknowledged() -> None:
    q = OfflineQueue(3)
    q.put(_m(1))
    head = q.peek()
    assert head is not None
    assert q.peek() is head  # an unacknowledged send is retried, not lost
    assert len(q) == 1


def test_ack_of_a_message_dropped_meanwhile_removes_nothing() -> None:
    q = OfflineQueue(2)
    q.put(_m(1))
    q.put(_m(2))
    in_flight = q.peek()
    assert in_flight is not None
    q.put(_m(3))  # overflow drops message 1 while it is in flight
    q.done(in_flight)
    assert _drain(q) == [b"2", b"3"]
    assert q.dropped == 1


@pytest.mark.parametrize("size", [0, -1, 10**7])
def test_bad_size_is_refused(size: int) -> None:
    with pytest.raises(InvalidInputError) as e:
        OfflineQueue(size)
    assert e.value.code == "device.queue_size"
