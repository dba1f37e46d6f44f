"""The sliding anti-replay window (RFC 4303 §3.4.3 semantics)."""

from __future__ import annotations

import pytest

from fleetward.e2e import ReplayGuard, ReplayWindow
from fleetward.e2e.replay import MAX_SEQ


def test_window_accepts_new_and_out_of_order_refuses_replays_and_old() -> None:
    w = ReplayWindow(8)
    assert w.accept(0)
    assert not w.accept(0)
    assert w.accept(5)
    assert w.accept(3)  # out of order, inside the window
    assert not w.accept(3)
    assert w.accept(12)  # window now covers 5..12
    assert not w.accept(4)  # below the window
    assert w.accept(5 + 0) is False  # accepted before, still inside
    assert w.accept(6)
    assert w.accept(100)  # a jump larger than the window resets the bitmap
    assert not w.accept(92)
    assert w.accept(93)
    assert w.accept(MAX_SEQ)
    assert not w.accept(MAX_SEQ)
    assert not w.accept(MAX_SEQ + 1)
    assert not w.accept(-1)


def test_window_state_round_trip() -> None:
    w = ReplayWindow(16)
    for seq in (1, 2, 9, 7):
        w.accept(seq)
    again = ReplayWindow(16, w.state())
    assert [again.is_fresh(s) for s in (1, 2, 7, 9, 8, 10)] == [False] * 4 + [True] * 2
    with pytest.raises(ValueError, match="window"):
        ReplayWindow(0)


def test_guard_is_per_sender_bounded_and_forgets() -> None:
    g = ReplayGuard(size=4, max_senders=2)
    assert g.accept(b"a", 1)
    assert g.accept(b"b", 1)  # another sender has its own window
    assert not g.accept(b"a", 1)
    assert not g.is_fresh(b"c", 1)
    assert not g.accept(b"c", 1)  # full: new senders refused, live windows kept
    g.forget(b"b")
    assert g.accept(b"c", 1)
    restored = ReplayGuard.restore(g.snapshot(), size=4, max_senders=2)
    assert not restored.accept(b"a", 1)
    assert restored.accept(b"a", 2)
