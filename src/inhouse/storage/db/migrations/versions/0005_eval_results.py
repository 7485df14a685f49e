"""The eval-results index: the `.eval_results/*.yaml` entries of model repos, read from the head of each default
branch, for dataset leaderboards (services/evaluations/eval_results.py). New tables only, filled as leaderboards
are asked for: existing rows are untouched.

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


def upgrade() -> None:
    op.create_table(
        "eval_result_index",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "eval_result_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("dataset_id", sa.String(200), nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_eval_result_entries_dataset", "eval_result_entries", ["dataset_id", "id"])
    op.create_index("ix_eval_result_entries_repo", "eval_result_entries", ["repo_id"])


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
