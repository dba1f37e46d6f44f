"""Exponential backoff with full jitter: bounds, growth, cap, reset."""

from __future__ import annotations

import pytest

from fleetward.device import Backoff, BackoffPolicy
from fleetward.errors import InvalidInputError


def test_ceiling_doubles_then_caps() -> None:
    policy = BackoffPolicy(base=0.5, cap=10.0)
    assert [policy.ceiling(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.ceiling(10_000) == 10.0  # no overflow, however long the outage


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.25])
    b = Backoff(BackoffPolicy(base=1.0, cap=100.0), rand=lambda: next(draws))
    assert [b.next_delay() for _ in range(4)] == [0.0, 2.0, 2.0, 2.0]
    assert b.attempt == 4


def test_reset_starts_again_from_base() -> None:
    b = Backoff(BackoffPolicy(base=1.0, cap=100.0), rand=lambda: 1.0)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.next_delay() == 1.0


def test_out_of_range_random_is_clamped() -> None:
    b = Backoff(BackoffPolicy(base=1.0, cap=4.0), rand=lambda: 7.0)
    assert b.next_delay() == 1.0
    b = Backoff(BackoffPolicy(base=1.0, cap=4.0), rand=lambda: -1.0)
    assert b.next_delay() == 0.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bad_policy_is_refused(base: float, cap: float) -> None:
    with pytest.raises(InvalidInputError) as e:
        BackoffPolicy(base=base, cap=cap)
    assert e.value.code == "device.backoff"
