"""The audit service on an in-memory store: batching, re-linking, checkpoints, hub events."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetward.audit import (
    AuditEntry,
    AuditLog,
    ChainHead,
    Checkpoint,
    HeadMovedError,
    open_audit_keyring,
    seal,
    verify,
)
from fleetward.audit.ports import Batch
from fleetward.clock import ManualClock
from fleetward.crypto import KeyRing
from fleetward.errors import ConflictError, InvalidInputError, StorageError, UnavailableError
from fleetward.events import (
    AuthRefused,
    ClientConnected,
    EventBus,
    PublishAccepted,
    SubscribeRefused,
)

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


class MemoryStore:
    """The storage port in memory, with the same append-only-onto-the-head rule as SQL."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.saved: list[Checkpoint] = []
        self.failures = 0  # the next appends that fail as a database outage would
        self.intruders = 0  # the next appends that lose a race (lock row deleted)

    def head(self) -> ChainHead:
        head = ChainHead()
        if self.entries:
            head = ChainHead(self.entries[-1].seq, self.entries[-1].hash)
        if self.saved:
            head = ChainHead(head.seq, head.hash, self.saved[-1].seq, self.saved[-1].at)
        return head

    def append(self, build: Callable[[ChainHead], Batch]) -> Batch:
        if self.failures:
            self.failures -= 1
            raise StorageError("database down", code="audit.storage")
        entries, checkpoints = build(self.head())
        if self.intruders:  # another writer slipped in without the lock
            self.intruders -= 1
            raise HeadMovedError("moved")
        self.entries.extend(entries)
        self.saved.extend(checkpoints)
        return entries, checkpoints

    def tail(self, n: int, *, tenant_id: str | None = None) -> list[AuditEntry]:
        rows = [e for e in self.entries if tenant_id is None or e.tenant_id == tenant_id]
        return rows[-n:]

    def iter_entries(self) -> Iterator[AuditEntry]:
        return iter(list(self.entries))

    def checkpoints(self) -> list[Checkpoint]:
        return list(self.saved)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return open_audit_keyring(tmp_path, T0)


@pytest.fixture
def mem() -> MemoryStore:
    return MemoryStore()


def make_log(mem: MemoryStore, ring: KeyRing, clock: ManualClock, **kw: object) -> AuditLog:
    audit = AuditLog(mem, ring, clock, **kw)  # type: ignore[arg-type]
    audit.open()
    return audit


def check(mem: MemoryStore, ring: KeyRing) -> None:
    report = verify(mem.iter_entries(), mem.checkpoints(), ring.verify_keys(now=T0))
    assert report.ok, report.problems
    assert [e.seq for e in mem.entries] == list(range(1, len(mem.entries) + 1))


def test_record_needs_an_open_log(mem: MemoryStore, ring: KeyRing, clock: ManualClock) -> None:
    audit = AuditLog(mem, ring, clock)
    with pytest.raises(UnavailableError) as info:
        audit.record(actor="operator", action="tenant.created")
    assert info.value.code == "audit.closed"
    audit.open()
    audit.record(actor="operator", action="tenant.created")
    audit.close()
    with pytest.raises(UnavailableError):
        audit.record(actor="operator", action="tenant.created")
    check(mem, ring)


def test_flush_writes_in_call_order_and_close_anchors_the_head(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock, checkpoint_every=4, checkpoint_interval=None)
    for i in range(10):
        audit.record(actor="operator", action="device.revoked", target=f"device:{i}")
        clock.advance(dt.timedelta(seconds=1))
        if i % 3 == 2:
            audit.flush()
    assert [e.target for e in mem.entries] == [f"device:{i}" for i in range(9)]
    assert [c.seq for c in mem.saved] == [6]  # the first flush with >= 4 unanchored
    assert audit.pending == 1
    audit.close()
    assert [c.seq for c in mem.saved] == [6, 10]
    assert audit.flush() == 0
    check(mem, ring)


def test_a_quiet_log_is_anchored_by_time(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock, checkpoint_interval=dt.timedelta(minutes=10))
    audit.record(actor="operator", action="tenant.created")
    audit.flush()
    assert [c.seq for c in mem.saved] == [1]  # never anchored before: anchor at once
    audit.record(actor="operator", action="tenant.suspended")
    audit.flush()
    assert [c.seq for c in mem.saved] == [1]
    clock.advance(dt.timedelta(minutes=10))
    audit.record(actor="operator", action="tenant.resumed")
    audit.flush()
    assert [c.seq for c in mem.saved] == [1, 3]


def test_a_failed_flush_keeps_the_entries_in_order(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock)
    audit.record(actor="operator", action="token.minted", target="apikey:a")
    mem.failures = 1
    with pytest.raises(StorageError):
        audit.flush()
    assert audit.pending == 1
    audit.record(actor="operator", action="token.revoked", target="apikey:a")
    assert audit.flush() == 2
    assert [e.action for e in mem.entries] == ["token.minted", "token.revoked"]
    audit.close()
    check(mem, ring)


def test_another_writer_first_means_relinking_not_forking(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    ours = make_log(mem, ring, clock)
    theirs = make_log(mem, ring, clock)
    ours.record(actor="operator", action="tenant.created", target="tenant:a")
    theirs.record(actor="operator", action="tenant.created", target="tenant:b")
    theirs.record(actor="operator", action="tenant.deleted", target="tenant:b")
    theirs.flush()
    ours.record(actor="operator", action="tenant.deleted", target="tenant:a")
    ours.flush()
    theirs.record(actor="operator", action="tenant.created", target="tenant:c")
    theirs.close()
    ours.close()
    assert [e.target for e in mem.entries] == [
        "tenant:b",
        "tenant:b",
        "tenant:a",
        "tenant:a",
        "tenant:c",
    ]
    check(mem, ring)


def test_a_lost_race_is_retried_then_reported(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock)
    audit.record(actor="operator", action="tenant.created")
    mem.intruders = 2
    assert audit.flush() == 1
    audit.record(actor="operator", action="tenant.deleted")
    mem.intruders = 100
    with pytest.raises(ConflictError) as info:
        audit.flush()
    assert info.value.code == "audit.contended"
    mem.intruders = 0
    audit.close()
    assert [e.action for e in mem.entries] == ["tenant.created", "tenant.deleted"]
    check(mem, ring)


def test_a_full_queue_fails_closed(mem: MemoryStore, ring: KeyRing, clock: ManualClock) -> None:
    audit = make_log(mem, ring, clock, max_pending=3)
    mem.failures = 100
    for _ in range(3):
        audit.record(actor="operator", action="device.banned")
    with pytest.raises(UnavailableError) as info:
        audit.record(actor="operator", action="device.banned")
    assert info.value.code == "audit.backlog"
    mem.failures = 0
    assert audit.flush() == 3
    audit.record(actor="operator", action="device.banned")


def test_run_flushes_on_a_worker_thread(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock)

    async def scenario() -> None:
        task = asyncio.create_task(audit.run(0.01))
        audit.record(actor="operator", action="policy.changed")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if mem.entries:
                break
        mem.failures = 1  # a failing tick is logged, not fatal
        audit.record(actor="operator", action="policy.changed")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(mem.entries) == 2:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert [e.seq for e in mem.entries] == [1, 2]


def test_hub_events_become_entries_without_secrets(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    audit = make_log(mem, ring, clock)
    bus = EventBus()
    stop = audit.subscribe_to(bus)
    bus.publish(
        ClientConnected(
            T0, "cid-1", "dev-1", "t-1", "tls", 5, "10.0.0.7:5555", "TLSv1.3", None, True, 30
        )
    )
    hostile = "x\x00" + "y" * 5000
    bus.publish(AuthRefused(T0, hostile, "mallory", "tls", "10.0.0.9:1", 0x86, "access.bad"))
    bus.publish(SubscribeRefused(T0, "cid-1", "dev-1", "t-1", "devices/other/#", 0x87))
    bus.publish(PublishAccepted(T0, "cid-1", "dev-1", "t-1", "devices/dev-1/x", 0, False, 3))
    audit.flush()
    ok, refused, sub = mem.entries
    assert (ok.actor, ok.action, ok.outcome, ok.target, ok.tenant_id) == (
        "mqtt:dev-1",
        "auth.ok",
        "ok",
        "client:cid-1",
        "t-1",
    )
    assert ok.details["tls_version"] == "TLSv1.3"
    assert (refused.actor, refused.action, refused.outcome) == (
        "mqtt:mallory",
        "auth.refused",
        "refused",
    )
    assert refused.target is not None
    assert len(refused.target) <= 7 + 128
    assert "\x00" not in refused.target
    assert refused.details == {
        "listener": "tls",
        "peer": "10.0.0.9:1",
        "reason_code": 0x86,
        "reason": "access.bad",
    }
    assert (sub.action, sub.details["topic_filter"]) == ("subscribe.refused", "devices/other/#")
    stop()
    bus.publish(SubscribeRefused(T0, "cid-1", "dev-1", "t-1", "#", 0x87))
    assert audit.pending == 0
    audit.close()
    check(mem, ring)


def test_seal_is_what_record_uses(mem: MemoryStore, ring: KeyRing, clock: ManualClock) -> None:
    audit = make_log(mem, ring, clock)
    audit.record(actor="operator", action="tenant.created", details={"name": "acme"})
    audit.flush()
    (entry,) = mem.entries
    assert entry == seal(
        seq=1,
        prev_hash="0" * 64,
        at=T0,
        actor="operator",
        action="tenant.created",
        details={"name": "acme"},
    )


def test_recording_checks_at_once_and_hashes_at_flush_in_call_order(
    mem: MemoryStore, ring: KeyRing, clock: ManualClock
) -> None:
    """The connect path pays for a check and an append; the chain is built by the flush.

    A bad act is still refused to its caller (nothing is queued for it), and the time
    an act carries is the time it was recorded, not the time it was flushed.
    """
    audit = make_log(mem, ring, clock)
    audit.record(actor="mqtt:anonymous", action="auth.ok", target="client:a")
    with pytest.raises(InvalidInputError):
        audit.record(actor="mqtt:\udcff", action="auth.ok")  # a lone surrogate
    with pytest.raises(InvalidInputError):
        audit.record(actor="mqtt:x", action="auth.ok", details={"x": 1.5})  # type: ignore[dict-item]
    clock.advance(dt.timedelta(seconds=5))
    audit.record(actor="mqtt:anonymous", action="auth.ok", target="client:b")
    assert audit.pending == 2
    assert mem.entries == []
    clock.advance(dt.timedelta(seconds=5))
    assert audit.flush() == 2
    assert [(e.target, e.at) for e in mem.entries] == [
        ("client:a", T0),
        ("client:b", T0 + dt.timedelta(seconds=5)),
    ]
    audit.close()
    check(mem, ring)
