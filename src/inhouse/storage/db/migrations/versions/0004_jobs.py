"""Jobs and evaluations: jobs, their tasks and logs (inhouse.jobs: the rows are the truth), and the results of
evaluations (one row per candidate model and variant). New tables only: existing rows are untouched.

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


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("eta_s", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("cancel_requested_at", sa.Float, nullable=True),
        sa.Column("executor", sa.String(16), nullable=False),
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner_id", "id"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_table(
        "job_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("runner", sa.String(64), nullable=True),
        sa.UniqueConstraint("job_id", "seq", name="uq_job_task_seq"),
    )
    op.create_index("ix_job_tasks_state", "job_tasks", ["state"])
    op.create_table(
        "job_logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("job_tasks.id", ondelete="CASCADE"), nullable=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_job_logs_job", "job_logs", ["job_id", "id"])
    op.create_table(
        "evaluation_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("job_tasks.id", ondelete="CASCADE"), nullable=True),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("dataset_repo_id", sa.String(200), nullable=False),
        sa.Column("dataset_revision", sa.String(64), nullable=False),
        sa.Column("dataset_config", sa.String(200), nullable=True),
        sa.Column("dataset_split", sa.String(200), nullable=False),
        sa.Column("model_repo_id", sa.String(200), nullable=False),
        sa.Column("model_revision", sa.String(64), nullable=True),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("quality", sa.Float, nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("cost", sa.Text, nullable=False),
        sa.Column("machine", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_evaluation_results_dataset", "evaluation_results",
                    ["task", "dataset_repo_id", "dataset_revision"])
    op.create_index("ix_evaluation_results_job", "evaluation_results", ["job_id"])


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
