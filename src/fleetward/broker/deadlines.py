"""One timer for every connection's deadline (CONNECT grace period, keepalive).

A ``TimerHandle`` per connection costs ~130 bytes and a heap entry, and tens of thousands
of idle devices each hold one for hours. Instead connections are grouped into buckets
of :data:`RESOLUTION` seconds and one loop timer fires per non-empty bucket, so a
connection costs one set entry. A deadline fires at most one resolution step late,
never early: a keepalive of 60 s is enforced at 90 s plus at most 0.25 s
(MQTT-3.1.2-24 asks for the disconnect, not for sub-second precision).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import Protocol

__all__ = ["RESOLUTION", "DeadlineWheel", "HasDeadline"]

RESOLUTION = 0.25
"""Seconds per bucket."""


class HasDeadline(Protocol):
    """What the wheel needs of a connection."""

    deadline_bucket: set[HasDeadline] | None

    def deadline_passed(self) -> None:
        """Called once the bucket holding this connection is due."""
        ...


class DeadlineWheel:
    """Buckets of connections by deadline, with one timer for the earliest bucket."""

    __slots__ = ("_buckets", "_due", "_handle", "_loop", "_next")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, set[HasDeadline]] = {}
        self._due: list[int] = []  # heap of bucket ticks
        self._handle: asyncio.TimerHandle | None = None
        self._next = math.inf

    def arm(self, conn: HasDeadline, deadline: float) -> None:
        """Call ``conn.deadline_passed()`` at ``deadline`` (or up to one step later)."""
        self.disarm(conn)
        tick = math.ceil(deadline / RESOLUTION)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = set()
            heapq.heappush(self._due, tick)
        bucket.add(conn)
        conn.deadline_bucket = bucket
        if tick < self._next:
            self._schedule(tick)

    @staticmethod
    def disarm(conn: HasDeadline) -> None:
        """Forget ``conn``'s deadline, if it has one."""
        bucket = conn.deadline_bucket
        if bucket is not None:
            bucket.discard(conn)
            conn.deadline_bucket = None

    def close(self) -> None:
        """Stop the timer (the broker is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._buckets.clear()
        self._due.clear()
        self._next = math.inf

    def _schedule(self, tick: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next = tick
        self._handle = self._loop.call_at(tick * RESOLUTION, self._fire)

    def _fire(self) -> None:
        self._handle, self._next = None, math.inf
        now_tick = math.floor(self._loop.time() / RESOLUTION)
        due, ready = self._due, []
        while due and due[0] <= now_tick:  # take every due bucket before calling anyone
            ready.append(self._buckets.pop(heapq.heappop(due)))
        for bucket in ready:
            for conn in list(bucket):
                if conn.deadline_bucket is not bucket:
                    continue  # disarmed by an earlier callback
                conn.deadline_bucket = None
                conn.deadline_passed()  # may arm again, into a later bucket
        if due and due[0] < self._next:
            self._schedule(due[0])
