"""SQLAlchemy Core table of the alert history, on the registry's ``metadata``.

Migration ``0005`` creates it. ``tenant_id`` and ``device_id`` have no foreign keys:
an alert about a device outlives the device (it is history), and devices known only to
the broker's configuration have no registry row at all.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table

from fleetward.registry.sql.tables import metadata

__all__ = ["presence_alerts"]

presence_alerts = Table(
    "presence_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=True),
    Column("owner_id", String(36), nullable=True),
    Column("device_id", String(128), nullable=True),
    Column("site", String(64), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False),
    Column("details", JSON, nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolution", String(128), nullable=True),
    Index("ix_presence_alerts_tenant_state", "tenant_id", "state", "id"),
    Index("ix_presence_alerts_key", "tenant_id", "kind", "subject", "state"),
)
