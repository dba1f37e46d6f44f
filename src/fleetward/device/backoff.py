"""Reconnect delays: exponential backoff with full jitter, capped.

"Full jitter" (each delay uniform in ``[0, min(cap, base * 2**attempt))``) spreads a
fleet's reconnects after a hub restart instead of having every device knock at the same
instant; the cap bounds how long a device stays away once the hub is back. Pure: the
random source is injected, so tests and the simulator are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fleetward.errors import InvalidInputError

__all__ = ["Backoff", "BackoffPolicy"]

_MAX_EXPONENT = 32  # 2**32 * any sane base is far beyond any cap: stop growing there


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """``base`` and ``cap`` in seconds; ``cap`` must not be below ``base``."""

    base: float = 0.5
    cap: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise InvalidInputError("backoff needs 0 < base <= cap", code="device.backoff")

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before retry number ``attempt`` (0-based)."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        return min(self.cap, self.base * float(1 << exponent))


@dataclass(slots=True)
class Backoff:
    """The delays of one reconnect loop; :meth:`reset` after a connection succeeds."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    rand: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next try (full jitter), and count the try."""
        ceiling = self.policy.ceiling(self.attempt)
        self.attempt += 1
        return ceiling * min(max(self.rand(), 0.0), 1.0)

    def reset(self) -> None:
        """A connection succeeded: the next failure starts again from ``base``."""
        self.attempt = 0
