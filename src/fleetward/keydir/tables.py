"""SQLAlchemy Core table of the E2E key directory, on the registry's ``metadata``.

Migration ``0006`` creates it. ``entry`` is the signed statement exactly as clients
fetch it (``docs/e2e-format.md``, "Key directory"); the other columns index it. Public
keys only: the hub never holds a private E2E key.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table

from fleetward.registry.sql.tables import metadata

__all__ = ["e2e_keys"]

e2e_keys = Table(
    "e2e_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("owner_id", String(36), nullable=False),
    Column("holder_kind", Integer, nullable=False),
    Column("holder_id", String(128), nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    Index("ix_e2e_keys_holder", "tenant_id", "holder_kind", "holder_id"),
    Index("ix_e2e_keys_owner", "tenant_id", "owner_id"),
)
