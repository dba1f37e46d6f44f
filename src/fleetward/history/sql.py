"""The telemetry history on SQL (SQLAlchemy 2 Core), on the registry's engine.

Every read takes the tenant (and the device or owner) as a required argument. Only
vault blobs are written here; this module never sees a plaintext payload. Driver
errors become :class:`StorageError` at this boundary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fleetward.errors import StorageError
from fleetward.history.tables import telemetry_history

__all__ = ["SqlHistory", "StoredRow", "from_micros", "to_micros"]

_H = telemetry_history.c
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(at: dt.datetime) -> int:
    """Integer microseconds since the epoch (exact on every database)."""
    delta = at.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> dt.datetime:
    """The UTC time of :func:`to_micros`."""
    return _EPOCH + dt.timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One row as stored: the payload still a vault blob."""

    id: int
    tenant_id: str
    owner_id: str
    device_id: str
    stream: str
    received_at: dt.datetime
    expires_at: dt.datetime
    sealed: bool
    blob: bytes


class SqlHistory:
    """Batched inserts, scoped reads, the retention purge and an owner's erasure."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert_many(self, rows: Sequence[StoredRow]) -> None:
        """Store a batch in one transaction (``id`` of the rows is ignored)."""
        if not rows:
            return
        values = [
            {
                "tenant_id": r.tenant_id,
                "owner_id": r.owner_id,
                "device_id": r.device_id,
                "stream": r.stream,
                "received_us": to_micros(r.received_at),
                "expires_us": to_micros(r.expires_at),
                "sealed": r.sealed,
                "blob": r.blob,
            }
            for r in rows
        ]
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(telemetry_history), values)
        except SQLAlchemyError as e:
            raise StorageError("cannot store telemetry", code="history.storage") from e

    def for_device(
        self,
        tenant_id: str,
        device_id: str,
        *,
        stream: str | None,
        since: dt.datetime | None,
        limit: int,
    ) -> list[StoredRow]:
        """A device's rows, oldest first, from ``since`` (inclusive)."""
        query = select(telemetry_history).where(
            _H.tenant_id == tenant_id, _H.device_id == device_id
        )
        if stream is not None:
            query = query.where(_H.stream == stream)
        if since is not None:
            query = query.where(_H.received_us >= to_micros(since))
        return self._rows(query.order_by(_H.received_us, _H.id).limit(limit))

    def for_owner(
        self, tenant_id: str, owner_id: str, *, after: int | None, limit: int
    ) -> list[StoredRow]:
        """A page of an owner's rows by id (for the export)."""
        query = select(telemetry_history).where(_H.tenant_id == tenant_id, _H.owner_id == owner_id)
        if after is not None:
            query = query.where(_H.id > after)
        return self._rows(query.order_by(_H.id).limit(limit))

    def purge(self, now: dt.datetime) -> int:
        """Delete every row past its retention; returns how many."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    delete(telemetry_history).where(_H.expires_us <= to_micros(now))
                )
        except SQLAlchemyError as e:
            raise StorageError("cannot purge telemetry", code="history.storage") from e
        return int(result.rowcount or 0)

    def delete_owner(self, tenant_id: str, owner_id: str) -> int:
        """Delete every row of an owner; returns how many."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    delete(telemetry_history).where(
                        _H.tenant_id == tenant_id, _H.owner_id == owner_id
                    )
                )
        except SQLAlchemyError as e:
            raise StorageError("cannot erase telemetry", code="history.storage") from e
        return int(result.rowcount or 0)

    def count(self, tenant_id: str, owner_id: str) -> int:
        """How many rows an owner has."""
        query = select(func.count()).where(_H.tenant_id == tenant_id, _H.owner_id == owner_id)
        try:
            with self._engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except SQLAlchemyError as e:
            raise StorageError("cannot read telemetry", code="history.storage") from e

    def _rows(self, query: object) -> list[StoredRow]:
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()  # type: ignore[call-overload]
        except SQLAlchemyError as e:
            raise StorageError("cannot read telemetry", code="history.storage") from e
        return [
            StoredRow(
                id=int(r["id"]),
                tenant_id=r["tenant_id"],
                owner_id=r["owner_id"],
                device_id=r["device_id"],
                stream=r["stream"],
                received_at=from_micros(int(r["received_us"])),
                expires_at=from_micros(int(r["expires_us"])),
                sealed=bool(r["sealed"]),
                blob=bytes(r["blob"]),
            )
            for r in rows
        ]
