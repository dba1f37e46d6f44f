"""The bounded offline queue: what a device publishes while the hub is out of reach.

A device must keep working offline without growing without bound: when the queue is
full the *oldest* message is dropped (fresh telemetry is worth more than stale) and the
loss is counted, never silent. On reconnect the queue is flushed in order; a message
leaves the queue only once the hub has acknowledged it, so a drop mid-flush loses
nothing and does not reorder.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fleetward.errors import InvalidInputError

__all__ = ["OfflineQueue", "Outgoing"]

MAX_QUEUE = 1_000_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message waiting for the hub."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class OfflineQueue:
    """FIFO of :class:`Outgoing`, at most ``max_items`` long; overflow drops the oldest."""

    __slots__ = ("_items", "dropped", "max_items")

    def __init__(self, max_items: int = 1000) -> None:
        if not 1 <= max_items <= MAX_QUEUE:
            raise InvalidInputError(
                f"the offline queue holds 1 to {MAX_QUEUE} messages", code="device.queue_size"
            )
        self.max_items = max_items
        self.dropped = 0
        self._items: deque[Outgoing] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: Outgoing) -> None:
        """Queue ``message``; when full, drop (and count) the oldest first."""
        if len(self._items) >= self.max_items:
            self._items.popleft()
            self.dropped += 1
        self._items.append(message)

    def peek(self) -> Outgoing | None:
        """The oldest message, still queued (None when empty)."""
        return self._items[0] if self._items else None

    def done(self, message: Outgoing) -> None:
        """``message`` (the one :meth:`peek` returned) was acknowledged: remove it.

        If it was dropped by an overflow meanwhile, nothing is removed.
        """
        if self._items and self._items[0] is message:
            self._items.popleft()
