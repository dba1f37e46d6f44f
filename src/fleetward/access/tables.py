"""SQL tables of the access layer (created by migration 0003).

They share the registry's :data:`~fleetward.registry.sql.tables.metadata` so foreign keys
to tenants and devices resolve, and every tenant-owned row cascades with its tenant.
``access_list_entries.tenant_id`` is nullable: ``NULL`` is the hub-wide list.
``access_changes`` is the change feed another process (the CLI) writes so a running hub
applies its changes to live sessions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from fleetward.registry.sql.tables import metadata

__all__ = [
    "access_changes",
    "access_list_entries",
    "device_limits",
    "gateway_children",
    "grants",
    "maker_cas",
    "revoked_tokens",
]


def _ts(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _tenant() -> Column[str]:
    return Column(
        "tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def _device(name: str = "device_id") -> Column[str]:
    return Column(name, String(36), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False)


grants = Table(
    "grants",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant(),
    _device(),
    Column("publish", JSON, nullable=False),
    Column("subscribe", JSON, nullable=False),
    Column("issued_by", String(64), nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("revoked_at", nullable=True),
    Index("ix_grants_tenant_id_device_id", "tenant_id", "device_id"),
)

access_list_entries = Table(
    "access_list_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("mode", String(8), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", String(128), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    Index("ix_access_list_entries_tenant_id", "tenant_id"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    _tenant(),
    Column("revoked_by", String(64), nullable=False),
    _ts("revoked_at"),
    _ts("expires_at"),
)

maker_cas = Table(
    "maker_cas",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant(),
    Column("name", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("pem", Text, nullable=False),
    _ts("created_at"),
    _ts("not_after"),
    _ts("revoked_at", nullable=True),
    Index("ix_maker_cas_tenant_id_fingerprint", "tenant_id", "fingerprint", unique=True),
)

gateway_children = Table(
    "gateway_children",
    metadata,
    _tenant(),
    _device("child_id"),
    _device("gateway_id"),
    _ts("created_at"),
    Index("ix_gateway_children_child_id", "child_id", unique=True),
    Index("ix_gateway_children_tenant_id_gateway_id", "tenant_id", "gateway_id"),
)

device_limits = Table(
    "device_limits",
    metadata,
    Column("device_id", String(36), ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    _tenant(),
    Column("max_payload", Integer, nullable=False),
    Column("publish_rate", Float, nullable=False),
    Column("publish_burst", Integer, nullable=False),
    Column("allowed_listeners", JSON, nullable=True),
    Column("allowed_cidrs", JSON, nullable=True),
    _ts("updated_at"),
)

access_changes = Table(
    "access_changes",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant_id", String(36), nullable=True),
    Column("what", String(32), nullable=False),
    Column("target", String(64), nullable=True),
    _ts("at"),
)
