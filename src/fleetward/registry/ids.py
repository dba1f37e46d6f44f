"""Time-ordered identifiers (UUID version 7 layout, RFC 9562 §5.7).

Ordered ids give stable keyset pagination in creation order on every database, and
their 62 random bits make them unguessable enough that probing ids is pointless. Ids
made by one process are strictly increasing, even within one millisecond: the 12-bit
``rand_a`` field is a counter seeded at random each millisecond (RFC 9562 §6.2,
method 1), and the timestamp moves on if the counter overflows.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

__all__ = ["is_id", "new_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _next_stamp(now_ms: int) -> tuple[int, int]:
    global _last_ms, _counter  # noqa: PLW0603 - the process-wide monotonic state
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _counter = now_ms, secrets.randbits(11)  # room to count upwards
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, secrets.randbits(11)
        return _last_ms, _counter


def new_id(now_ms: int | None = None) -> str:
    """A new UUIDv7 string, greater than every id this process made before."""
    ms, counter = _next_stamp(time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))


def is_id(text: str) -> bool:
    """Whether ``text`` is a canonical lowercase UUID string."""
    if len(text) != 36:
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
