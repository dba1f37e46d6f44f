"""Telemetry history (opted-in device telemetry, vault-encrypted per owner) and the E2E
key directory (signed public-key entries).

Times are integer microseconds (they are bound into each blob's associated data, so
they must round-trip exactly on every database). No foreign keys: erasure shreds the
owner's data key, then deletes the rows explicitly.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``telemetry_history``, ``e2e_keys`` and their indexes."""
    op.create_table(
        "telemetry_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("stream", sa.String(256), nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("sealed", sa.Boolean, nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_history_device",
        "telemetry_history",
        ["tenant_id", "device_id", "stream", "received_us"],
    )
    op.create_index("ix_history_owner", "telemetry_history", ["tenant_id", "owner_id", "id"])
    op.create_index("ix_history_expiry", "telemetry_history", ["expires_us"])
    op.create_table(
        "e2e_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("holder_kind", sa.Integer, nullable=False),
        sa.Column("holder_id", sa.String(128), nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_e2e_keys_holder", "e2e_keys", ["tenant_id", "holder_kind", "holder_id"])
    op.create_index("ix_e2e_keys_owner", "e2e_keys", ["tenant_id", "owner_id"])


def downgrade() -> None:
    """Drop the key directory and history tables."""
    op.drop_table("e2e_keys")
    op.drop_table("telemetry_history")
