"""SQLAlchemy Core tables of the audit log, on the registry's ``metadata``.

Migration ``0002`` creates them. ``tenant_id`` deliberately has no foreign key: the
audit trail must outlive the tenants it speaks of, and a cascade would let deleting a
tenant erase the record of what was done to it. Column sizes match the bounds that
:func:`fleetward.audit.chain.seal` enforces.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Table

from fleetward.audit.chain import MAX_ACTION, MAX_ACTOR, MAX_OUTCOME, MAX_TARGET, MAX_TENANT_ID
from fleetward.registry.sql.tables import metadata

__all__ = ["audit_checkpoints", "audit_entries", "audit_lock"]

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("tenant_id", String(MAX_TENANT_ID), nullable=True),
    Column("actor", String(MAX_ACTOR), nullable=False),
    Column("action", String(MAX_ACTION), nullable=False),
    Column("target", String(MAX_TARGET), nullable=True),
    Column("outcome", String(MAX_OUTCOME), nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_entries_tenant_id_seq", "tenant_id", "seq"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kid", String(32), nullable=False),
    Column("signature", String(128), nullable=False),  # base64url, unpadded
)

# One row (id 1). Every append first updates it, which serializes writers on every
# database (a row lock on PostgreSQL, the write lock on SQLite) so that each builds its
# batch on the head it read under the lock.
audit_lock = Table(
    "audit_lock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("appends", BigInteger, nullable=False),
)
