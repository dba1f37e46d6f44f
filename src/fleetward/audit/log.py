"""The audit service: record acts cheaply, write them in batches, anchor them with signatures.

:meth:`AuditLog.record` runs on whatever thread performed the act (the broker's event
loop, an API worker): it takes a lock, checks the act and queues it, so recording never
waits for the database and the order of acts is the order of calls. The act's place in
the chain (``seq`` and hash) is fixed in that order by :meth:`AuditLog.flush` (on a worker
thread via :meth:`AuditLog.run`), which hashes the queue in one go and writes it in one
transaction together with any checkpoint that is due: a CONNECT records its
``auth.ok`` for the price of a check and an append.

Several writers may share one database (the hub and the CLI, hub replicas): the storage
serializes appends and hands each writer the current head under its lock, and a writer
whose queue was built on an older head re-links it onto that head. Entries keep their
order and content; only their ``seq`` numbers move. If the database is down, entries stay
queued (up to ``max_pending``); past that, recording fails closed with
:class:`UnavailableError` rather than forgetting acts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from fleetward.audit.chain import (
    Act,
    AuditEntry,
    Checkpoint,
    Scalar,
    check_act,
    relink,
    seal_act,
    sign_checkpoint,
)
from fleetward.audit.hub_events import subscribe_hub_events
from fleetward.audit.ports import AuditStorage, Batch, ChainHead, HeadMovedError
from fleetward.clock import Clock
from fleetward.crypto.signing import KeyRing
from fleetward.errors import ConflictError, FleetwardError, UnavailableError
from fleetward.events import EventBus

__all__ = ["AuditLog"]

log = logging.getLogger("fleetward.audit")

_APPEND_ATTEMPTS = 8


class AuditLog:
    """The hash-chained audit log of one hub process. Thread-safe."""

    __slots__ = (
        "_clock",
        "_every",
        "_flush_lock",
        "_interval",
        "_keys",
        "_lock",
        "_max_pending",
        "_open",
        "_pending",
        "_raw",
        "_storage",
        "_stored",
        "_tip",
        "_unsubscribe",
    )

    def __init__(
        self,
        storage: AuditStorage,
        keys: KeyRing,
        clock: Clock,
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval: dt.timedelta | None = dt.timedelta(hours=1),
        max_pending: int = 100_000,
    ) -> None:
        """``keys`` signs checkpoints: one at least every ``checkpoint_every`` entries,
        at the first flush once ``checkpoint_interval`` has passed since the last (so a
        quiet log is anchored too; ``None`` turns that off), and on :meth:`close`.
        """
        if checkpoint_every < 1 or max_pending < 1:
            raise ValueError("checkpoint_every and max_pending must be positive")
        self._storage = storage
        self._keys = keys
        self._clock = clock
        self._every = checkpoint_every
        self._interval = checkpoint_interval
        self._max_pending = max_pending
        self._lock = threading.Lock()  # guards _pending, _raw, _tip and _open
        self._flush_lock = threading.Lock()  # one flush at a time; guards _stored
        self._pending: list[AuditEntry] = []  # queued and chained
        self._raw: list[Act] = []  # queued after _pending, not yet chained (see _chain)
        self._tip = ChainHead()  # the newest chained entry, queued or stored
        self._stored = ChainHead()  # the newest stored entry and checkpoint
        self._open = False
        self._unsubscribe: list[Callable[[], None]] = []

    def open(self) -> None:
        """Continue the chain where the database ends. Raises :class:`StorageError`.

        Opening again (after a failed :meth:`close`, say) keeps any queued entries.
        """
        with self._flush_lock:
            head = self._storage.head()
            self._chain()
            with self._lock:
                self._stored = head
                self._pending = self._relinked(self._pending, head)
                self._open = True

    @property
    def pending(self) -> int:
        """How many recorded entries are not yet stored."""
        with self._lock:
            return len(self._pending) + len(self._raw)

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        tenant_id: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Scalar] | None = None,
    ) -> None:
        """Queue one act, chained after every act recorded here before it. Never blocks on I/O.

        Its fields are checked now, its hash when it is flushed (in recording order); if
        another writer appends to the same database first it is re-linked (same content
        and order, later ``seq``).

        ``details`` must hold no secret. Raises :class:`InvalidInputError` for fields
        out of bounds (see :func:`~fleetward.audit.chain.seal`) and
        :class:`UnavailableError` when the log is not open or its queue is full.
        """
        with self._lock:
            if not self._open:
                raise UnavailableError("the audit log is not open", code="audit.closed")
            if len(self._pending) + len(self._raw) >= self._max_pending:
                raise UnavailableError("the audit log cannot keep up", code="audit.backlog")
            act = check_act(
                at=self._clock.now(),
                actor=actor,
                action=action,
                target=target,
                tenant_id=tenant_id,
                outcome=outcome,
                details=details,
            )
            self._raw.append(act)

    def _chain(self) -> None:
        """Give the queued acts their place after the tip, in recording order.

        The caller holds ``_flush_lock`` (the only lock under which ``_pending`` and
        ``_tip`` change); ``_lock`` is held just to read and then to move the acts, so
        recording goes on while the batch is hashed.
        """
        with self._lock:
            acts, tip = self._raw[:], self._tip
        if not acts:
            return
        seq, prev = tip.seq, tip.hash
        entries: list[AuditEntry] = []
        for act in acts:
            seq += 1
            entry = seal_act(act, seq=seq, prev_hash=prev)
            entries.append(entry)
            prev = entry.hash
        with self._lock:
            del self._raw[: len(acts)]
            self._pending += entries
            self._tip = ChainHead(seq, prev)

    def flush(self) -> int:
        """Store queued entries (and a due checkpoint) in one transaction; how many.

        On failure the entries stay queued for the next flush and the error
        (:class:`StorageError`, :class:`ConflictError`) propagates.
        """
        return self._flush(final=False)

    def close(self) -> None:
        """Stop listening to hub events, store everything and anchor the head.

        Recording is refused from here on even if this final flush fails (the error
        propagates; calling :meth:`close` again retries the flush).
        """
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        try:
            self._flush(final=True)
        finally:
            with self._lock:
                self._open = False

    async def run(self, interval: float) -> None:
        """Flush every ``interval`` seconds on a worker thread until cancelled.

        The event loop never waits on SQL. A failed flush is logged and retried on the
        next tick; the queue keeps the entries.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.flush)
            except FleetwardError as e:
                log.warning("audit flush failed (%s); %d entries queued", e.code, self.pending)

    def subscribe_to(self, bus: EventBus) -> Callable[[], None]:
        """Record authentication results and refused subscriptions from the data plane.

        See :mod:`fleetward.audit.hub_events` for which events and which fields.

        Returns a function that stops it (:meth:`close` also does).
        """
        offs = subscribe_hub_events(bus, self.record)
        self._unsubscribe.extend(offs)

        def unsubscribe() -> None:
            for off in offs:
                off()

        return unsubscribe

    # -- writing

    def _flush(self, *, final: bool) -> int:
        with self._flush_lock:
            self._chain()
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch and self._anchor_due(self._stored, batch, final=final) is None:
                return 0  # nothing to write: do not even take the database's write lock
            stored = self._stored

            def build(head: ChainHead) -> Batch:
                # Runs under the storage's write lock, on the head it just read.
                nonlocal stored
                entries = batch
                if batch and (batch[0].seq, batch[0].prev_hash) != (head.seq + 1, head.hash):
                    entries = relink(batch, seq=head.seq + 1, prev_hash=head.hash)
                due = self._anchor_due(head, entries, final=final)
                checkpoints = [] if due is None else [self._sign(*due)]
                stored = _advanced(head, entries, checkpoints)
                return entries, checkpoints

            try:
                self._append(build)
            except BaseException:  # whatever failed, not one recorded act may be lost
                self._requeue(batch)
                raise
            self._stored = stored
            with self._lock:
                self._pending = self._relinked(self._pending, stored)
            return len(batch)

    def _append(self, build: Callable[[ChainHead], Batch]) -> None:
        for _ in range(_APPEND_ATTEMPTS):
            try:
                self._storage.append(build)
            except HeadMovedError:
                continue
            return
        raise ConflictError("the audit log keeps moving under this writer", code="audit.contended")

    def _anchor_due(
        self, head: ChainHead, batch: Sequence[AuditEntry], *, final: bool
    ) -> tuple[int, str] | None:
        """The (seq, hash) a checkpoint should sign now, if one is due."""
        seq, head_hash = (batch[-1].seq, batch[-1].hash) if batch else (head.seq, head.hash)
        unanchored = seq - head.checkpoint_seq
        if unanchored <= 0:
            return None
        overdue = self._interval is not None and (
            head.checkpoint_at is None or self._clock.now() - head.checkpoint_at >= self._interval
        )
        if final or overdue or unanchored >= self._every:
            return seq, head_hash
        return None

    def _sign(self, seq: int, head_hash: str) -> Checkpoint:
        return sign_checkpoint(seq, head_hash, self._clock.now(), self._keys.active)

    def _requeue(self, batch: list[AuditEntry]) -> None:
        with self._lock:
            if batch:
                last = batch[-1]
                self._pending = batch + self._relinked(
                    self._pending, ChainHead(last.seq, last.hash)
                )

    def _relinked(self, entries: list[AuditEntry], onto: ChainHead) -> list[AuditEntry]:
        """``entries`` chained onto ``onto`` (unchanged if they already are); sets the tip."""
        if entries and (entries[0].seq, entries[0].prev_hash) != (onto.seq + 1, onto.hash):
            entries = relink(entries, seq=onto.seq + 1, prev_hash=onto.hash)
        self._tip = ChainHead(entries[-1].seq, entries[-1].hash) if entries else onto
        return entries


def _advanced(
    head: ChainHead, batch: Sequence[AuditEntry], checkpoints: Sequence[Checkpoint]
) -> ChainHead:
    seq, hash_ = (batch[-1].seq, batch[-1].hash) if batch else (head.seq, head.hash)
    if checkpoints:
        return ChainHead(seq, hash_, checkpoints[-1].seq, checkpoints[-1].at)
    return ChainHead(seq, hash_, head.checkpoint_seq, head.checkpoint_at)
