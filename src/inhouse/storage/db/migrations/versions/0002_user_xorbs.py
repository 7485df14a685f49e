"""Xet re-uploads: which xorbs each user may name in a shard (user_xorbs), and the CAS URL segment that keys each
user's client cache (user_xet_caches). New tables only: existing rows are untouched.

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


def upgrade() -> None:
    op.create_table(
        "user_xorbs",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("xorb_hash", sa.String(64), primary_key=True),
        sa.Column("uploaded_at", sa.Float, nullable=True),
        sa.Column("answered_until", sa.Float, nullable=True),
    )
    op.create_index("ix_user_xorbs_xorb_hash", "user_xorbs", ["xorb_hash"])
    op.create_table(
        "user_xet_caches",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
