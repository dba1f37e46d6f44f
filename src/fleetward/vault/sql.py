"""Wrapped data keys on SQL (SQLAlchemy 2 Core): the ``owner_data_keys`` table.

Migration ``0004`` creates the table. A key row cascades away with its owner or tenant
(deleting them erases the key too). Shredding clears ``wrapped_key`` in place and keeps
the row as a tombstone. On SQLite it first turns on ``secure_delete`` for the connection,
so the freed bytes are zeroed in the page, and afterwards truncates the write-ahead log,
so the old page images go too; PostgreSQL keeps dead row versions until ``VACUUM``
(see docs/decisions/0006-encryption-at-rest.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fleetward.clock import utc
from fleetward.errors import StorageError
from fleetward.registry.sql.tables import metadata, owners
from fleetward.vault.ports import DataKeyRecord, OwnerRef, UnknownOwnerError

__all__ = ["SqlDataKeys", "owner_data_keys"]

owner_data_keys = Table(
    "owner_data_keys",
    metadata,
    Column("dek_id", String(32), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", String(36), ForeignKey("owners.id", ondelete="CASCADE"), nullable=False),
    Column("wrapped_key", LargeBinary(128), nullable=True),
    Column("kek_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "owner_id"),
)

_K = owner_data_keys.c


class SqlDataKeys:
    """Implements :class:`~fleetward.vault.ports.DataKeyStorage` on the registry's engine."""

    __slots__ = ("_engine", "_sqlite")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def for_owner(self, owner: OwnerRef) -> DataKeyRecord | None:
        """The owner's key row, live or shredded."""
        query = select(owner_data_keys).where(
            _K.tenant_id == owner.tenant_id, _K.owner_id == owner.owner_id
        )
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except SQLAlchemyError as e:
            raise StorageError("cannot read data keys", code="vault.storage") from e
        return None if row is None else _record(row)

    def insert(self, record: DataKeyRecord) -> DataKeyRecord:
        """Store a new key for an existing owner of that tenant, or return the one there."""
        owner = record.owner
        try:
            with self._engine.begin() as conn:
                if _owner(conn, owner) is None:
                    raise UnknownOwnerError(f"no owner {owner.owner_id} in this tenant")
                conn.execute(insert(owner_data_keys).values(**_row(record)))
        except IntegrityError:
            stored = self.for_owner(owner)  # another writer made the owner's key first
            if stored is None:
                raise UnknownOwnerError(f"no owner {owner.owner_id} in this tenant") from None
            return stored
        except SQLAlchemyError as e:
            raise StorageError("cannot store a data key", code="vault.storage") from e
        return record

    def rewrap(self, dek_id: str, old_kek_id: str, wrapped_key: bytes, kek_id: str) -> bool:
        """Compare-and-set the wrapping of a live key."""
        query = (
            update(owner_data_keys)
            .where(_K.dek_id == dek_id, _K.kek_id == old_kek_id, _K.shredded_at.is_(None))
            .values(wrapped_key=wrapped_key, kek_id=kek_id)
        )
        try:
            with self._engine.begin() as conn:
                self._secure_delete(conn)
                changed = conn.execute(query).rowcount
            self._truncate_wal()
        except SQLAlchemyError as e:
            raise StorageError("cannot re-wrap a data key", code="vault.storage") from e
        return bool(changed)

    def shred(self, owner: OwnerRef, dek_id: str, now: dt.datetime) -> bool:
        """Clear the owner's wrapped key (or leave a tombstone); whether a live key went."""
        try:
            with self._engine.begin() as conn:
                self._secure_delete(conn)
                destroyed = conn.execute(
                    update(owner_data_keys)
                    .where(
                        _K.tenant_id == owner.tenant_id,
                        _K.owner_id == owner.owner_id,
                        _K.shredded_at.is_(None),
                    )
                    .values(wrapped_key=None, shredded_at=now)
                ).rowcount
                if not destroyed and _key_row(conn, owner) is None:
                    if _owner(conn, owner) is None:
                        raise UnknownOwnerError(f"no owner {owner.owner_id} in this tenant")
                    conn.execute(
                        insert(owner_data_keys).values(
                            dek_id=dek_id,
                            tenant_id=owner.tenant_id,
                            owner_id=owner.owner_id,
                            wrapped_key=None,
                            kek_id="",
                            created_at=now,
                            shredded_at=now,
                        )
                    )
            self._truncate_wal()
        except IntegrityError as e:  # the owner does not exist (or vanished meanwhile)
            raise UnknownOwnerError(f"no owner {owner.owner_id} in this tenant") from e
        except SQLAlchemyError as e:
            raise StorageError("cannot shred a data key", code="vault.storage") from e
        return bool(destroyed)

    def live_keys(self, *, after: str | None, limit: int) -> Sequence[DataKeyRecord]:
        """A page of live keys in ``dek_id`` order."""
        query = (
            select(owner_data_keys)
            .where(_K.shredded_at.is_(None))
            .order_by(_K.dek_id)
            .limit(max(limit, 0))
        )
        if after is not None:
            query = query.where(_K.dek_id > after)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as e:
            raise StorageError("cannot read data keys", code="vault.storage") from e
        return [_record(r) for r in rows]

    def kek_counts(self) -> Mapping[str, int]:
        """Live keys per KEK id."""
        query = select(_K.kek_id, func.count()).where(_K.shredded_at.is_(None)).group_by(_K.kek_id)
        try:
            with self._engine.connect() as conn:
                return {str(k): int(n) for k, n in conn.execute(query).all()}
        except SQLAlchemyError as e:
            raise StorageError("cannot read data keys", code="vault.storage") from e

    def _secure_delete(self, conn: Connection) -> None:
        if self._sqlite:  # zero the bytes an UPDATE frees (https://sqlite.org/pragma.html)
            conn.execute(text("PRAGMA secure_delete=ON"))

    def _truncate_wal(self) -> None:
        if not self._sqlite:
            return
        with self._engine.connect() as conn:
            # Copy the WAL into the database and cut it to zero bytes, so the page images
            # that still held the old wrapped key leave the log. Busy readers only delay it.
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def _key_row(conn: Connection, owner: OwnerRef) -> object | None:
    return conn.execute(
        select(_K.dek_id).where(_K.tenant_id == owner.tenant_id, _K.owner_id == owner.owner_id)
    ).first()


def _owner(conn: Connection, owner: OwnerRef) -> object | None:
    """The owner's row if it exists *in this tenant* (an owner id alone proves nothing)."""
    return conn.execute(
        select(owners.c.id).where(
            owners.c.tenant_id == owner.tenant_id, owners.c.id == owner.owner_id
        )
    ).first()


def _row(r: DataKeyRecord) -> dict[str, object]:
    return {
        "dek_id": r.dek_id,
        "tenant_id": r.owner.tenant_id,
        "owner_id": r.owner.owner_id,
        "wrapped_key": r.wrapped_key,
        "kek_id": r.kek_id,
        "created_at": r.created_at,
        "shredded_at": r.shredded_at,
    }


def _record(r: RowMapping) -> DataKeyRecord:
    shredded = r["shredded_at"]
    wrapped = r["wrapped_key"]
    return DataKeyRecord(
        dek_id=str(r["dek_id"]),
        owner=OwnerRef(str(r["tenant_id"]), str(r["owner_id"])),
        wrapped_key=None if wrapped is None else bytes(wrapped),
        kek_id=str(r["kek_id"]),
        created_at=utc(r["created_at"]),
        shredded_at=None if shredded is None else utc(shredded),
    )
