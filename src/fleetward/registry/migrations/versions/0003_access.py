"""Access: grants, deny/allow lists, revoked tokens, maker CAs, gateway children, device
limits and the change feed a running hub follows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _tenant(table: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(36),
        sa.ForeignKey("tenants.id", ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"),
        nullable=nullable,
    )


def _device(table: str, name: str = "device_id", *, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(
        name,
        sa.String(36),
        sa.ForeignKey("devices.id", ondelete="CASCADE", name=f"fk_{table}_{name}_devices"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    """Create the access tables."""
    op.create_table(
        "grants",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("grants"),
        _device("grants"),
        sa.Column("publish", sa.JSON, nullable=False),
        sa.Column("subscribe", sa.JSON, nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_index("ix_grants_tenant_id_device_id", "grants", ["tenant_id", "device_id"])
    op.create_table(
        "access_list_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("access_list_entries", nullable=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
    )
    op.create_index("ix_access_list_entries_tenant_id", "access_list_entries", ["tenant_id"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        _tenant("revoked_tokens"),
        sa.Column("revoked_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_table(
        "maker_cas",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("maker_cas"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("not_after", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_index(
        "ix_maker_cas_tenant_id_fingerprint", "maker_cas", ["tenant_id", "fingerprint"], unique=True
    )
    op.create_table(
        "gateway_children",
        _tenant("gateway_children"),
        _device("gateway_children", "child_id"),
        _device("gateway_children", "gateway_id"),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_gateway_children_child_id", "gateway_children", ["child_id"], unique=True)
    op.create_index(
        "ix_gateway_children_tenant_id_gateway_id",
        "gateway_children",
        ["tenant_id", "gateway_id"],
    )
    op.create_table(
        "device_limits",
        _device("device_limits", primary_key=True),
        _tenant("device_limits"),
        sa.Column("max_payload", sa.Integer, nullable=False),
        sa.Column("publish_rate", sa.Float, nullable=False),
        sa.Column("publish_burst", sa.Integer, nullable=False),
        sa.Column("allowed_listeners", sa.JSON, nullable=True),
        sa.Column("allowed_cidrs", sa.JSON, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "access_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("at", _TS, nullable=False),
    )


def downgrade() -> None:
    """Drop the access tables."""
    for table in (
        "access_changes",
        "device_limits",
        "gateway_children",
        "maker_cas",
        "revoked_tokens",
        "access_list_entries",
        "grants",
    ):
        op.drop_table(table)
