"""Presence: the alert history (open, acknowledged, resolved; folded repeats).

No foreign keys on ``tenant_id``/``device_id``: alerts are history and outlive devices.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the alert table and its indexes."""
    op.create_table(
        "presence_alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("owner_id", sa.String(36), nullable=True),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("resolution", sa.String(128), nullable=True),
    )
    op.create_index(
        "ix_presence_alerts_tenant_state", "presence_alerts", ["tenant_id", "state", "id"]
    )
    op.create_index(
        "ix_presence_alerts_key", "presence_alerts", ["tenant_id", "kind", "subject", "state"]
    )


def downgrade() -> None:
    """Drop the alert table."""
    op.drop_table("presence_alerts")
