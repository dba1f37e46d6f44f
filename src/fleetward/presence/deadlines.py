"""Silence deadlines: which devices a tick must look at, without walking them all.

The tracker's silence rule is "online, and nothing heard for longer than its interval".
Walking every online device once a second costs O(fleet) on the hub's loop; this heap
holds one item per device that could fall silent, keyed by the earliest moment it
could (``last_seen + interval`` when the item was pushed). Activity only moves
``last_seen``; the item is not touched (lazy invalidation). When an item comes due, the
tracker judges the device with the rule itself: if it was heard from since, the item
goes back in at its new deadline. So a tick costs O(due items · log n), and each device
costs at most one heap item however often it publishes.
"""

from __future__ import annotations

import datetime as dt
import heapq

__all__ = ["Deadlines"]

_SLACK = dt.timedelta(microseconds=1)
"""Items are taken a microsecond early: ``timedelta(seconds=interval)`` rounds to the
microsecond, and the rule itself (not the heap key) decides."""


class Deadlines:
    """A min-heap of ``(deadline, device_id)`` with at most one live item per device."""

    __slots__ = ("_due", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[dt.datetime, int, str]] = []
        self._due: dict[str, dt.datetime] = {}  # each device's live item
        self._seq = 0  # ties break in push order, never on the id

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._due

    def arm(self, device_id: str, deadline: dt.datetime) -> None:
        """Make sure ``device_id`` is looked at no later than ``deadline``.

        A device already due earlier keeps its item (the rule rechecks it then).
        """
        due = self._due.get(device_id)
        if due is not None and due <= deadline:
            return
        self._due[device_id] = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, device_id))

    def disarm(self, device_id: str) -> None:
        """Forget ``device_id`` (its heap item becomes stale and is skipped)."""
        self._due.pop(device_id, None)

    def take_due(self, now: dt.datetime) -> list[str]:
        """Remove and return the devices whose item is due at ``now``, earliest first."""
        heap, due, out = self._heap, self._due, []
        limit = now + _SLACK
        while heap and heap[0][0] <= limit:
            deadline, _, device_id = heapq.heappop(heap)
            if due.get(device_id) == deadline:
                del due[device_id]
                out.append(device_id)
        return out
