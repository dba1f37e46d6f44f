"""Replay bounds across restarts (``docs/e2e-format.md`` §8a): for any interleaving of
messages, crashes, clean restarts, time passing and evictions, no sequence number of a
sender is accepted twice; and after a clean restart nothing above what was accepted is
refused. The journal keeps exactly the bytes the file would hold."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.e2e import DurableReplayGuard, ReplayBounds
from fleetward.e2e.replay_file import decode_bounds, encode_bounds

SENDERS = [bytes([i]) * 8 for i in range(3)]


@dataclass
class _Disk:
    """A journal whose save is atomic, as the file's rename is."""

    data: bytes = b""

    def load(self) -> ReplayBounds:
        return decode_bounds(self.data)

    def save(self, bounds: ReplayBounds) -> None:
        self.data = encode_bounds(bounds)


_message = st.tuples(
    st.just("msg"),
    st.integers(0, len(SENDERS) - 1),
    st.one_of(st.integers(-12, 6), st.integers(-12, 6), st.integers(0, 1 << 30)),
)
_op = st.one_of(
    _message,
    _message,
    _message,
    st.tuples(st.just("crash"), st.just(0), st.just(0)),
    st.tuples(st.just("close"), st.just(0), st.just(0)),
    st.tuples(st.just("time"), st.just(0), st.integers(0, 20)),
)


@settings(max_examples=500, deadline=None)
@given(
    ops=st.lists(_op, min_size=20, max_size=80),
    max_senders=st.integers(1, 4),
    size=st.sampled_from([1, 8, 64]),
    max_margin=st.sampled_from([0, 5, 1 << 16]),
)
def test_no_seq_accepted_twice_across_restarts(
    ops: list[tuple[str, int, int]], max_senders: int, size: int, max_margin: int
) -> None:
    disk = _Disk(encode_bounds(ReplayBounds()))

    def start() -> DurableReplayGuard:
        guard = DurableReplayGuard(
            disk, size=size, max_senders=max_senders, reserve_seconds=5, max_margin=max_margin
        )
        guard.now = clock
        return guard

    clock = 0.0
    guard = start()
    accepted: set[tuple[int, int]] = set()
    last = [0] * len(SENDERS)  # each sender's counter: steps forward, late ones, jumps
    for op, sender, value in ops:
        if op == "msg":
            kid = SENDERS[sender]
            seq = max(0, last[sender] + value)
            last[sender] = max(last[sender], seq)
            fresh = guard.is_fresh(kid, seq)
            ok = guard.accept(kid, seq)
            assert ok == fresh
            if ok:
                assert (sender, seq) not in accepted
                accepted.add((sender, seq))
            clock += 0.01
            guard.now = clock
        elif op == "time":
            clock += value
            guard.now = clock
        else:
            if op == "close":
                guard.checkpoint()
                highest = {k: s.highest for k, s in guard.snapshot().items()}
                evicted = guard.floor
            guard = start()  # a crash drops the guard without checkpoint()
            for old_sender, old_seq in accepted:  # the hub replays everything
                assert not guard.is_fresh(SENDERS[old_sender], old_seq)
            if op == "close":
                for kid, top in highest.items():  # nothing above what was accepted is lost
                    assert guard.is_fresh(kid, max(top, evicted) + 1)
