"""The audit log: hash-chained entries, their signed checkpoints and the writers' lock row.

``tenant_id`` has no foreign key on purpose: audit records outlive deleted tenants.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the audit tables."""
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_entries_tenant_id_seq", "audit_entries", ["tenant_id", "seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )

    lock = op.create_table(
        "audit_lock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("appends", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(lock, [{"id": 1, "appends": 0}])


def downgrade() -> None:
    """Drop the audit tables."""
    for table in ("audit_lock", "audit_checkpoints", "audit_entries"):
        op.drop_table(table)
