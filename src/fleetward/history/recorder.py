"""The recorder: takes accepted telemetry off the broker's loop and stores it in batches.

:meth:`HistoryRecorder.tap` is the broker router's publish tap: it runs on the loop, so
it only filters (a device's own telemetry, an opted-in stream, within the size bound)
and queues. Each publish gets a receive time at least 1 µs after the previous one, so
(device, stream, time), which the stored blob's AAD binds, names one row. A task drains
the queue every ``flush_interval`` (sooner when a batch is full) and stores it on a
worker thread; another task purges expired rows. Nothing is dropped silently: a full
queue or an oversized payload is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from fleetward.access.mqtt_hooks import Identity
from fleetward.clock import Clock
from fleetward.errors import FleetwardError
from fleetward.history.model import StreamRule, retention_for, telemetry_stream
from fleetward.history.service import HistoryService, Pending

__all__ = ["HistoryRecorder", "RecorderLimits"]

log = logging.getLogger("fleetward.history")

_TICK = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RecorderLimits:
    """Bounds of the in-memory queue and the batches (``[history]`` settings)."""

    max_payload: int = 64 << 10
    queue_max: int = 100_000
    batch_max: int = 500
    flush_interval: float = 0.2
    purge_interval: float = 3600.0


class HistoryRecorder:
    """Queues opted-in telemetry on the loop; stores and purges it off the loop."""

    __slots__ = (
        "_clock",
        "_last",
        "_limits",
        "_queue",
        "_rules",
        "_running",
        "_service",
        "_tasks",
        "_wake",
        "dropped",
        "stored",
    )

    def __init__(
        self,
        rules: Sequence[StreamRule],
        service: HistoryService,
        clock: Clock,
        limits: RecorderLimits | None = None,
    ) -> None:
        self._rules = tuple(rules)
        self._service = service
        self._clock = clock
        self._limits = limits or RecorderLimits()
        self._queue: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.stored = 0
        self.dropped = 0

    def tap(self, identity: Identity, topic: str, payload: bytes) -> None:
        """The router's publish tap: queue a device's own opted-in telemetry."""
        if identity.kind != "device" or identity.tenant_id is None:
            return
        parsed = telemetry_stream(topic)
        if parsed is None or parsed[0] != identity.name:
            return
        retention = retention_for(self._rules, parsed[1])
        if retention is None:
            return
        limits = self._limits
        if len(payload) > limits.max_payload or len(self._queue) >= limits.queue_max:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8…: no log flood
                log.warning("telemetry history: %d publishes not recorded", self.dropped)
            return
        now = self._clock.now()
        if now <= self._last:  # one µs apart at least: the AAD then names a single row
            now = self._last + _TICK
        self._last = now
        self._queue.append(
            Pending(identity.tenant_id, parsed[0], parsed[1], now, retention, payload)
        )
        if len(self._queue) >= limits.batch_max:
            self._wake.set()

    def start(self) -> None:
        """Start the flush and purge tasks on the running loop."""
        loop = asyncio.get_running_loop()
        self._running = True
        self._tasks = [
            loop.create_task(self._flush_loop(), name="history-flush"),
            loop.create_task(self._purge_loop(), name="history-purge"),
        ]

    async def stop(self) -> None:
        """End the tasks, then store what is still queued.

        The flush task is asked to finish rather than cancelled, so a batch it already
        took off the queue is stored and counted; the purge task is cancelled.
        """
        self._running = False
        self._wake.set()
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush()

    async def flush(self) -> int:
        """Store everything queued now; returns how many rows were written."""
        written = 0
        while self._queue:
            n = min(len(self._queue), self._limits.batch_max)
            batch = [self._queue.popleft() for _ in range(n)]
            try:  # shielded: once off the queue, a batch is stored even if we are cancelled
                done = await asyncio.shield(asyncio.to_thread(self._service.store_batch, batch))
            except FleetwardError:
                self.dropped += len(batch)
                log.exception("telemetry history: a batch of %d could not be stored", len(batch))
            else:
                self.stored += done
                written += done
        return written

    async def _flush_loop(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11, wait_for returns the waiter's result when
        # a cancel lands just as the wake-up does, and ``stop`` would then wait forever.
        while self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._limits.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def _purge_loop(self) -> None:
        while True:
            try:
                purged = await asyncio.to_thread(self._service.purge, self._clock.now())
            except FleetwardError:
                log.exception("telemetry history: the retention purge failed")
            else:
                if purged:
                    log.info("telemetry history: %d expired records purged", purged)
            await asyncio.sleep(self._limits.purge_interval)
