"""SQLAlchemy Core table of the telemetry history, on the registry's ``metadata``.

Migration ``0006`` creates it. ``blob`` is always a vault blob (the owner's data key);
``received_at`` is stored as integer microseconds so the associated data rebuilt on read
is exact on every database. No foreign keys: erasure deletes rows explicitly, after
the owner's data key is shredded.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, LargeBinary, String, Table

from fleetward.registry.sql.tables import metadata

__all__ = ["telemetry_history"]

telemetry_history = Table(
    "telemetry_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(36), nullable=False),
    Column("owner_id", String(36), nullable=False),
    Column("device_id", String(128), nullable=False),
    Column("stream", String(256), nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Index("ix_history_device", "tenant_id", "device_id", "stream", "received_us"),
    Index("ix_history_owner", "tenant_id", "owner_id", "id"),
    Index("ix_history_expiry", "expires_us"),
)
