"""The audit log on SQL (SQLAlchemy 2 Core), on the registry's engine.

Writes are append-only and serialized: each append first updates the ``audit_lock`` row
(a row lock on PostgreSQL, the write lock on SQLite), then reads the head and builds its
batch onto it, so two writers (the hub and a CLI, or two hub replicas) can never fork
the chain; the seq primary key is the backstop if the lock row was removed.

Reads never trust the rows. Whoever tampers with the database may put anything in a
column, so rows are decoded defensively: a value that cannot be read becomes a marker the
writer can never produce (the ``!unreadable`` detail key), whose hash cannot match, and
the verifier reports the entry instead of crashing on it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import String, insert, select, type_coerce, update
from sqlalchemy.engine import Connection, Dialect, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fleetward.audit.chain import AuditEntry, Checkpoint, Scalar
from fleetward.audit.ports import Batch, ChainHead, HeadMovedError
from fleetward.audit.tables import audit_checkpoints, audit_entries, audit_lock
from fleetward.clock import utc
from fleetward.errors import StorageError

__all__ = ["SqlAuditStore"]

_E = audit_entries.c
_C = audit_checkpoints.c
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Raw columns: no SQLAlchemy result processing that could raise on a tampered value.
_ENTRY_COLS = (
    _E.seq,
    type_coerce(_E.at, String).label("at"),
    _E.tenant_id,
    _E.actor,
    _E.action,
    _E.target,
    _E.outcome,
    type_coerce(_E.details, String).label("details"),
    _E.prev_hash,
    _E.hash,
)
_CHECKPOINT_COLS = (
    _C.seq,
    _C.head_hash,
    type_coerce(_C.at, String).label("at"),
    _C.kid,
    _C.signature,
)
_ENTRY_FIELDS = (
    "seq",
    "at",
    "tenant_id",
    "actor",
    "action",
    "target",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)


class SqlAuditStore:
    """Implements :class:`~fleetward.audit.ports.AuditStorage` on an existing engine."""

    __slots__ = ("_chunk", "_engine", "_inserter")

    def __init__(self, engine: Engine, *, chunk: int = 1000) -> None:
        self._engine = engine
        self._chunk = chunk
        self._inserter: _EntryInserter | None = None

    def head(self) -> ChainHead:
        """The last entry's seq and hash and the last checkpoint's seq and time."""
        try:
            with self._engine.connect() as conn:
                return _head(conn)
        except SQLAlchemyError as e:
            raise StorageError("cannot read the audit log", code="audit.storage") from e

    def append(self, build: Callable[[ChainHead], Batch]) -> Batch:
        """Take the write lock, read the head, insert ``build(head)``; one transaction."""
        try:
            with self._engine.begin() as conn:
                bump = update(audit_lock).where(audit_lock.c.id == 1)
                if not conn.execute(bump.values(appends=audit_lock.c.appends + 1)).rowcount:
                    # The lock row is gone (deleted by hand): put it back. A writer racing
                    # us here fails on the key and retries, by then behind the lock.
                    conn.execute(insert(audit_lock).values(id=1, appends=1))
                entries, checkpoints = build(_head(conn))
                if entries:
                    inserter = self._inserter
                    if inserter is None or inserter.dialect is not conn.dialect:
                        inserter = self._inserter = _EntryInserter(conn.dialect)
                    inserter.insert(conn, entries)
                if checkpoints:
                    conn.execute(
                        insert(audit_checkpoints), [_checkpoint_row(c) for c in checkpoints]
                    )
        except IntegrityError as e:  # another writer took these seq numbers first
            raise HeadMovedError("audit log head moved during append") from e
        except SQLAlchemyError as e:
            raise StorageError("cannot append to the audit log", code="audit.storage") from e
        return entries, checkpoints

    def tail(self, n: int, *, tenant_id: str | None = None) -> list[AuditEntry]:
        """The last ``n`` entries, oldest first; only ``tenant_id``'s when given."""
        query = select(*_ENTRY_COLS).order_by(_E.seq.desc()).limit(max(n, 0))
        if tenant_id is not None:
            query = query.where(_E.tenant_id == tenant_id)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as e:
            raise StorageError("cannot read the audit log", code="audit.storage") from e
        return [_entry(r) for r in reversed(rows)]

    def iter_entries(self) -> Iterator[AuditEntry]:
        """Every entry in ``seq`` order, in chunks (keyset pagination, one short read each)."""
        after: Any = None
        while True:
            query = select(*_ENTRY_COLS).order_by(_E.seq).limit(self._chunk)
            if after is not None:
                query = query.where(_E.seq > after)
            try:
                with self._engine.connect() as conn:
                    rows = conn.execute(query).mappings().all()
            except SQLAlchemyError as e:
                raise StorageError("cannot read the audit log", code="audit.storage") from e
            yield from (_entry(r) for r in rows)
            if len(rows) < self._chunk:
                return
            after = rows[-1]["seq"]

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, in ``seq`` order."""
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(select(*_CHECKPOINT_COLS).order_by(_C.seq)).mappings().all()
        except SQLAlchemyError as e:
            raise StorageError("cannot read the audit checkpoints", code="audit.storage") from e
        return [_checkpoint(r) for r in rows]


def _head(conn: Connection) -> ChainHead:
    last = conn.execute(select(_E.seq, _E.hash).order_by(_E.seq.desc()).limit(1)).first()
    cp = conn.execute(
        select(_C.seq, type_coerce(_C.at, String)).order_by(_C.seq.desc()).limit(1)
    ).first()
    head = ChainHead()
    if last is not None:
        head = ChainHead(seq=_int(last[0]), hash=str(last[1]))
    if cp is not None:
        head = ChainHead(head.seq, head.hash, _int(cp[0]), _datetime(cp[1]))
    return head


class _EntryInserter:
    """Inserts entries through the driver's ``executemany``, compiled once per dialect.

    ``conn.execute(insert(table), rows)`` is an executemany too, but builds a parameter
    dict per row and runs SQLAlchemy's per-row parameter machinery: at one ``auth.ok``
    per CONNECT that was more than half the cost of storing an entry. Here each row is
    a tuple (or a dict, for named parameter styles) whose values went through the same
    bind processors the column types apply (a JSON column's serializer, SQLite's text
    form of a datetime), so what is stored is exactly what the Core insert stored.
    """

    __slots__ = ("_named", "_processors", "_sql", "dialect")

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        compiled = insert(audit_entries).compile(dialect=dialect)
        order = compiled.positiontup
        self._named = order is None
        if order is not None and tuple(order) != _ENTRY_FIELDS:
            raise StorageError("unexpected audit insert layout", code="audit.storage")
        self._sql = compiled.string
        processors = (
            audit_entries.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in _ENTRY_FIELDS
        )
        self._processors = tuple((i, p) for i, p in enumerate(processors) if p is not None)

    def insert(self, conn: Connection, entries: Sequence[AuditEntry]) -> None:
        """Insert ``entries`` in one ``executemany``."""
        procs, named = self._processors, self._named
        rows: list[Any] = []
        for e in entries:
            row = [
                e.seq,
                e.at,
                e.tenant_id,
                e.actor,
                e.action,
                e.target,
                e.outcome,
                dict(e.details),
                e.prev_hash,
                e.hash,
            ]
            for i, process in procs:
                row[i] = process(row[i])
            rows.append(dict(zip(_ENTRY_FIELDS, row, strict=True)) if named else tuple(row))
        conn.exec_driver_sql(self._sql, rows)


def _checkpoint_row(c: Checkpoint) -> dict[str, object]:
    signature = base64.urlsafe_b64encode(c.signature).rstrip(b"=").decode()
    return {
        "seq": c.seq,
        "head_hash": c.head_hash,
        "at": c.at,
        "kid": c.kid,
        "signature": signature,
    }


def _entry(r: RowMapping) -> AuditEntry:
    return AuditEntry(
        seq=_int(r["seq"]),
        at=_datetime(r["at"]),
        tenant_id=_opt_str(r["tenant_id"]),
        actor=str(r["actor"]),
        action=str(r["action"]),
        target=_opt_str(r["target"]),
        outcome=str(r["outcome"]),
        details=_details(r["details"]),
        prev_hash=str(r["prev_hash"]),
        hash=str(r["hash"]),
    )


def _checkpoint(r: RowMapping) -> Checkpoint:
    text = str(r["signature"])
    try:
        signature = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        signature = b""
    return Checkpoint(
        seq=_int(r["seq"]),
        head_hash=str(r["head_hash"]),
        at=_datetime(r["at"]),
        kid=str(r["kid"]),
        signature=signature,
    )


def _int(raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    try:
        return int(str(raw))
    except ValueError:
        return -1


def _opt_str(raw: object) -> str | None:
    return None if raw is None else str(raw)


def _datetime(raw: object) -> dt.datetime:
    # PostgreSQL's driver hands back an aware datetime, SQLite the stored text.
    if isinstance(raw, dt.datetime):
        return utc(raw)
    try:
        return utc(dt.datetime.fromisoformat(str(raw)))
    except ValueError:
        return _EPOCH


def _details(raw: object) -> dict[str, Scalar]:
    value = raw
    if isinstance(raw, str | bytes):
        try:
            value = json.loads(raw)
        except ValueError:
            return {"!unreadable": "details"}
    if isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str | int))  # bool is an int
        for k, v in value.items()
    ):
        return value
    return {"!unreadable": "details"}
