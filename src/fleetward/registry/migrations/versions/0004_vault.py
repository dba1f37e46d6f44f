"""Encryption at rest: each owner's data key, wrapped by a KEK kept outside the database.

``wrapped_key`` is NULL once the key is shredded; the row stays as a tombstone. Rows
cascade away with their owner or tenant.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``owner_data_keys``."""
    op.create_table(
        "owner_data_keys",
        sa.Column("dek_id", sa.String(32), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(36),
            sa.ForeignKey(
                "tenants.id", ondelete="CASCADE", name="fk_owner_data_keys_tenant_id_tenants"
            ),
            nullable=False,
        ),
        sa.Column(
            "owner_id",
            sa.String(36),
            sa.ForeignKey(
                "owners.id", ondelete="CASCADE", name="fk_owner_data_keys_owner_id_owners"
            ),
            nullable=False,
        ),
        sa.Column("wrapped_key", sa.LargeBinary(128), nullable=True),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("shredded_at", _TS, nullable=True),
        sa.UniqueConstraint("tenant_id", "owner_id", name="uq_owner_data_keys_tenant_id_owner_id"),
    )


def downgrade() -> None:
    """Drop ``owner_data_keys`` (and with it every data key: all sealed data is lost)."""
    op.drop_table("owner_data_keys")
