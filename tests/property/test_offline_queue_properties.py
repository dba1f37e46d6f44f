"""The offline queue against a model: last-N of what was put, in order, drops counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fleetward.device import OfflineQueue, Outgoing

ops = st.lists(st.one_of(st.just("ack"), st.integers(0, 10_000)), max_size=200)


@given(size=st.integers(1, 20), script=ops)
def test_queue_matches_its_model(size: int, script: list[object]) -> None:
    q = OfflineQueue(size)
    model: list[int] = []
    dropped = 0
    for op in script:
        if op == "ack":
            head = q.peek()
            if head is not None:
                q.done(head)
                model.pop(0)
            continue
        assert isinstance(op, int)
        q.put(Outgoing("devices/d/telemetry/t", str(op).encode()))
        model.append(op)
        if len(model) > size:
            model.pop(0)
            dropped += 1
    assert q.dropped == dropped
    out = []
    while (m := q.peek()) is not None:
        out.append(int(m.payload))
        q.done(m)
    assert out == model
