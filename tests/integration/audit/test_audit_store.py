"""The audit log on real SQLite and real PostgreSQL: the same tests on both."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from fleetward.audit import (
    AuditLog,
    Scalar,
    SqlAuditStore,
    VerifyReport,
    open_audit_keyring,
    verify,
)
from fleetward.clock import ManualClock, SystemClock
from fleetward.crypto import KeyRing
from fleetward.registry import Store

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return open_audit_keyring(tmp_path / "data", T0)


@pytest.fixture
def sql(store: Store) -> SqlAuditStore:
    return SqlAuditStore(store.engine, chunk=7)  # small chunks: paging is exercised


def report_of(sql: SqlAuditStore, ring: KeyRing) -> VerifyReport:
    return verify(sql.iter_entries(), sql.checkpoints(), ring.verify_keys(now=T0))


def test_entries_round_trip_exactly(sql: SqlAuditStore, ring: KeyRing) -> None:
    audit = AuditLog(sql, ring, ManualClock(T0))
    audit.open()
    details: dict[str, Scalar] = {
        "name": "é ☃ \u2028",
        "big": 2**62,
        "neg": -1,
        "flag": False,
        "none": None,
    }
    audit.record(actor="apikey:abc", action="tenant.created", target="tenant:t", details=details)
    audit.record(actor="operator", action="device.revoked", tenant_id="t-1", outcome="refused")
    audit.close()
    first, second = sql.tail(10)
    assert first.details == details
    assert first.at == T0
    assert (second.tenant_id, second.outcome, second.target) == ("t-1", "refused", None)
    assert [e.seq for e in sql.tail(10, tenant_id="t-1")] == [2]
    assert [e.seq for e in sql.tail(1)] == [2]
    assert report_of(sql, ring).ok


def test_threads_recording_while_flushing_keep_one_valid_chain(
    sql: SqlAuditStore, ring: KeyRing
) -> None:
    audit = AuditLog(sql, ring, SystemClock(), checkpoint_every=50)
    audit.open()
    per_thread, threads = 60, 6
    done = threading.Event()

    def recorder(n: int) -> None:
        for i in range(per_thread):
            audit.record(actor=f"device:{n}", action="auth.ok", details={"thread": n, "i": i})

    def flusher() -> None:
        while not done.is_set():
            audit.flush()

    flushing = threading.Thread(target=flusher)
    flushing.start()
    workers = [threading.Thread(target=recorder, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    flushing.join()
    audit.close()

    entries = list(sql.iter_entries())
    assert [e.seq for e in entries] == list(range(1, per_thread * threads + 1))
    for n in range(threads):  # each thread's acts are stored in the order it made them
        assert [e.details["i"] for e in entries if e.details["thread"] == n] == list(
            range(per_thread)
        )
    report = verify(entries, sql.checkpoints(), ring.verify_keys(now=T0))
    assert report.ok, report.problems
    assert report.anchored_seq == per_thread * threads
    assert report.checkpoints >= 2


def test_reopening_continues_the_chain_and_checkpoints_are_stored(
    sql: SqlAuditStore, ring: KeyRing
) -> None:
    clock = ManualClock(T0)
    first = AuditLog(sql, ring, clock, checkpoint_every=10, checkpoint_interval=None)
    first.open()
    for i in range(25):
        first.record(actor="operator", action="owner.suspended", details={"i": i})
        if i % 5 == 4:
            first.flush()
    assert [c.seq for c in sql.checkpoints()] == [10, 20]
    first.close()
    assert [c.seq for c in sql.checkpoints()] == [10, 20, 25]

    clock.advance(dt.timedelta(days=1))
    second = AuditLog(sql, ring, clock, checkpoint_every=10, checkpoint_interval=None)
    second.open()
    second.record(actor="operator", action="owner.resumed")
    second.close()
    head = sql.head()
    assert (head.seq, head.checkpoint_seq) == (26, 26)
    stored = sql.checkpoints()
    assert stored[-1].at == clock.now()
    assert all(c.kid == ring.active.kid for c in stored)
    report = report_of(sql, ring)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.anchored_seq) == (26, 4, 26)


def test_two_writers_on_one_database_never_fork(store: Store, ring: KeyRing) -> None:
    # The hub and a CLI command (or two replicas) each with their own log object.
    hub = AuditLog(SqlAuditStore(store.engine), ring, SystemClock())
    cli = AuditLog(SqlAuditStore(store.engine), ring, SystemClock())
    hub.open()
    cli.open()
    for i in range(5):
        hub.record(actor="mqtt:dev", action="auth.ok", details={"i": i})
        cli.record(actor="operator", action="device.revoked", details={"i": i})
        (hub if i % 2 else cli).flush()
    hub.close()
    cli.close()
    sql = SqlAuditStore(store.engine)
    assert len(list(sql.iter_entries())) == 10
    report = report_of(sql, ring)
    assert report.ok, report.problems


def test_two_writers_racing_in_threads_never_fork(store: Store, ring: KeyRing) -> None:
    logs = [AuditLog(SqlAuditStore(store.engine), ring, SystemClock()) for _ in range(2)]
    for audit in logs:
        audit.open()

    def work(n: int) -> None:
        for i in range(40):
            logs[n].record(actor=f"writer:{n}", action="auth.ok", details={"i": i})
            logs[n].flush()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for audit in logs:
        audit.close()
    sql = SqlAuditStore(store.engine)
    entries = list(sql.iter_entries())
    assert [e.seq for e in entries] == list(range(1, 81))
    for n in range(2):
        mine = [e.details["i"] for e in entries if e.actor == f"writer:{n}"]
        assert mine == list(range(40))
    report = report_of(sql, ring)
    assert report.ok, report.problems


def test_stored_tampering_is_found(store: Store, sql: SqlAuditStore, ring: KeyRing) -> None:
    audit = AuditLog(sql, ring, ManualClock(T0), checkpoint_every=5, checkpoint_interval=None)
    audit.open()
    for i in range(12):
        audit.record(actor="operator", action="device.revoked", details={"i": i})
        audit.flush()
    audit.close()
    assert report_of(sql, ring).ok
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET details = '{\"i\": 99}' WHERE seq = 4"))
        conn.execute(text("UPDATE audit_entries SET details = '[1, 2]' WHERE seq = 6"))
        conn.execute(text("UPDATE audit_checkpoints SET signature = 'AAAA' WHERE seq = 5"))
        conn.execute(text("DELETE FROM audit_entries WHERE seq > 10"))
    found = {(p.code, p.seq) for p in report_of(sql, ring).problems}
    assert found == {
        ("entry.edited", 4),
        ("entry.edited", 6),
        ("checkpoint.bad_signature", 5),
        ("checkpoint.beyond_end", 12),
    }


def test_the_driver_insert_stores_what_the_core_insert_stores(sql: SqlAuditStore) -> None:
    from sqlalchemy import insert

    from fleetward.audit import seal
    from fleetward.audit.tables import audit_entries

    details: dict[str, Scalar] = {"peer": "10.0.0.1:5 é", "n": 2**40, "ok": True, "x": None}
    entry = seal(
        seq=1, prev_hash="0" * 64, at=T0, actor="mqtt:a", action="auth.ok", details=details
    )
    sql.append(lambda head: ([entry], []))
    twin = {f: getattr(entry, f) for f in audit_entries.c.keys()}  # noqa: SIM118
    with sql._engine.begin() as conn:  # the Core insert, as the store did before
        conn.execute(insert(audit_entries), [{**twin, "seq": 2, "details": dict(details)}])
        rows = conn.execute(
            text("SELECT seq, CAST(at AS TEXT), CAST(details AS TEXT) FROM audit_entries")
        ).all()
    assert len(rows) == 2
    assert rows[0][1:] == rows[1][1:]
