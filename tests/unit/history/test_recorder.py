"""The recorder's tap: only a device's own opted-in telemetry, bounded, nothing lost quietly."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from fleetward.access.mqtt_hooks import Identity
from fleetward.clock import ManualClock
from fleetward.history import HistoryRecorder, Pending, RecorderLimits, StreamRule

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DEV = Identity("d1", tenant_id="t1", kind="device")


class _Sink:
    """Stands in for the SQL service: records the batches it is given."""

    def __init__(self) -> None:
        self.batches: list[list[Pending]] = []

    def store_batch(self, batch: Sequence[Pending]) -> int:
        self.batches.append(list(batch))
        return len(batch)

    def purge(self, now: dt.datetime) -> int:
        return 0


def _recorder(sink: _Sink, **limits: float) -> HistoryRecorder:
    rules = [StreamRule("temp", dt.timedelta(days=1))]
    return HistoryRecorder(rules, sink, ManualClock(T0), RecorderLimits(**limits))  # type: ignore[arg-type]


def test_only_own_opted_in_telemetry_is_queued_and_flushed_in_batches() -> None:
    sink = _Sink()
    rec = _recorder(sink, batch_max=2)
    rec.tap(DEV, "devices/d1/telemetry/temp", b"1")
    rec.tap(DEV, "devices/d1/telemetry/temp", b"2")
    rec.tap(DEV, "devices/d1/telemetry/temp", b"3")
    rec.tap(DEV, "devices/d1/telemetry/humidity", b"not opted in")
    rec.tap(DEV, "devices/d2/telemetry/temp", b"someone else's tree")
    rec.tap(Identity("d1", tenant_id="t1", kind="user"), "devices/d1/telemetry/temp", b"user")
    rec.tap(Identity("d1", kind="device"), "devices/d1/telemetry/temp", b"no tenant")
    assert asyncio.run(rec.flush()) == 3
    assert [[p.payload for p in b] for b in sink.batches] == [[b"1", b"2"], [b"3"]]
    assert sink.batches[0][0].received_at == T0
    assert rec.stored == 3
    assert rec.dropped == 0


def test_oversized_payloads_and_a_full_queue_are_counted() -> None:
    sink = _Sink()
    rec = _recorder(sink, max_payload=4, queue_max=2)
    rec.tap(DEV, "devices/d1/telemetry/temp", b"too large")
    for payload in (b"a", b"b", b"c"):
        rec.tap(DEV, "devices/d1/telemetry/temp", payload)
    assert rec.dropped == 2
    assert asyncio.run(rec.flush()) == 2


def test_stop_ends_the_flush_task_even_when_a_wake_races_the_cancel() -> None:
    """``stop`` right after a wake-up neither hangs (``asyncio.wait_for`` on 3.11 swallows
    a cancel that lands with the wake-up) nor loses the batch the flush task took."""

    async def scenario() -> int:
        sink = _Sink()
        rec = _recorder(sink, batch_max=2, flush_interval=60.0)
        rec.start()
        await asyncio.sleep(0)  # the flush task is waiting for a wake-up
        rec.tap(DEV, "devices/d1/telemetry/temp", b"1")
        rec.tap(DEV, "devices/d1/telemetry/temp", b"2")  # a full batch: wake
        await asyncio.sleep(0)  # the flush task takes the batch as stop begins
        tasks = list(rec._tasks)
        stopping = asyncio.create_task(rec.stop())
        await asyncio.sleep(0.5)
        assert stopping.done(), "stop() hangs"
        assert all(t.done() for t in tasks)
        assert rec.stored == 2
        return sum(len(b) for b in sink.batches)

    assert asyncio.run(scenario()) == 2


def test_receive_times_are_distinct_so_the_aad_names_one_row() -> None:
    sink = _Sink()
    rec = _recorder(sink)  # a clock that never moves: every publish at T0
    for i in range(3):
        rec.tap(DEV, "devices/d1/telemetry/temp", str(i).encode())
    asyncio.run(rec.flush())
    times = [p.received_at for p in sink.batches[0]]
    assert times == [T0 + dt.timedelta(microseconds=i) for i in range(3)]
