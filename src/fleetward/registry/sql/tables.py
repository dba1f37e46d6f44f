"""SQLAlchemy Core tables of the registry (the schema Alembic migrations create).

Every tenant-owned table carries ``tenant_id`` with an ON DELETE CASCADE foreign key,
and its lookups index ``(tenant_id, id)`` so a tenant-scoped query is also the fast one.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["api_keys", "device_credentials", "devices", "metadata", "owners", "tenants"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _tenant_fk() -> Column[str]:
    return Column(
        "tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


tenants = Table(
    "tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
)

owners = Table(
    "owners",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant_fk(),
    Column("name", String(128), nullable=False),
    Column("email", String(254), nullable=True),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_owners_tenant_id_id", "tenant_id", "id"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant_fk(),
    Column("owner_id", String(36), ForeignKey("owners.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("site", String(64), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_devices_tenant_id_id", "tenant_id", "id"),
    Index("ix_devices_tenant_id_owner_id_id", "tenant_id", "owner_id", "id"),
)

device_credentials = Table(
    "device_credentials",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant_fk(),
    Column("device_id", String(36), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("secret_hash", Text, nullable=True),
    Column("fingerprint", String(128), nullable=True),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("revoked_at", nullable=True),
    Index("ix_device_credentials_tenant_id_device_id", "tenant_id", "device_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("owner_id", String(36), ForeignKey("owners.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(128), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_by", String(32), nullable=True),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("revoked_at", nullable=True),
    Index("ix_api_keys_tenant_id_owner_id", "tenant_id", "owner_id"),
)
