"""Governance (issue 10): organisation policies and their versions, file scans kept by content, quarantined
files, policy evaluations, the lifecycle stage of each model, approval requests and reviews, use cases and the
models attached to them; the audit log's repo index also orders by sequence. New tables and one nullable column
(repos.stage, repos.quarantined): existing rows are untouched.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _user_fk(name: str, *, cascade: bool = False) -> "sa.Column[int]":
    return sa.Column(name, sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE" if cascade else "SET NULL"),
                     nullable=not cascade)


def _repo_fk(name: str = "repo_id", *, primary_key: bool = False) -> "sa.Column[int]":
    return sa.Column(name, sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False,
                     primary_key=primary_key)


def upgrade() -> None:
    with op.batch_alter_table("repos") as batch:
        batch.add_column(sa.Column("stage", sa.String(16), nullable=True))
        batch.add_column(sa.Column("quarantined", sa.Integer, nullable=True))
    # a repo's audit entries newest first: (repo, seq) serves what (repo) did, and the order too
    op.drop_index("ix_audit_repo", table_name="audit_log")
    op.create_index("ix_audit_repo_seq", "audit_log", ["repo", "seq"])
    op.create_table(
        "org_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user_fk("org_id", cascade=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        _user_fk("author_id"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("org_id", "version", name="uq_org_policy_version"),
    )
    op.create_table(
        "file_scans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("content_key", sa.String(80), nullable=False),
        sa.Column("scanner", sa.String(32), nullable=False),
        sa.Column("scanner_version", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("scanned_at", sa.Float, nullable=False),
        sa.UniqueConstraint("content_key", "scanner", "scanner_version", name="uq_file_scan"),
    )
    op.create_table(
        "quarantined_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _repo_fk(),
        sa.Column("content_key", sa.String(80), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("commit", sa.String(40), nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("released_at", sa.Float, nullable=True),
        _user_fk("released_by"),
        sa.Column("release_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_quarantined_files_repo", "quarantined_files", ["repo_id", "content_key"])
    op.create_table(
        "policy_evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _repo_fk(),
        _user_fk("policy_org_id"),
        sa.Column("policy_version", sa.Integer, nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("ref", sa.Text, nullable=True),
        sa.Column("commit", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        _user_fk("actor_id"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_policy_evaluations_repo", "policy_evaluations", ["repo_id", "id"])
    op.create_index("ix_policy_evaluations_commit", "policy_evaluations", ["repo_id", "commit"])
    op.create_table(
        "repo_stages",
        _repo_fk(primary_key=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("revision", sa.String(40), nullable=True),
        sa.Column("replacement", sa.Text, nullable=True),
        sa.Column("request_id", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        _user_fk("updated_by"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _repo_fk(),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(40), nullable=True),
        _user_fk("author_id"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("approvals_required", sa.Integer, nullable=False),
        sa.Column("approver_roles", sa.Text, nullable=False),
        sa.Column("replacement", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float, nullable=True),
        sa.UniqueConstraint("repo_id", "number", name="uq_approval_request_number"),
    )
    op.create_index("ix_approval_requests_status", "approval_requests", ["repo_id", "status"])
    op.create_table(
        "approval_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id", ondelete="CASCADE"),
                  nullable=False),
        _user_fk("reviewer_id"),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("request_id", "reviewer_id", name="uq_approval_review"),
    )
    op.create_table(
        "use_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user_fk("org_id", cascade=True),
        sa.Column("slug", sa.String(96), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        _user_fk("owner_id"),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("org_id", "slug", name="uq_use_case_slug"),
    )
    op.create_table(
        "use_case_models",
        sa.Column("use_case_id", sa.Integer, sa.ForeignKey("use_cases.id", ondelete="CASCADE"), primary_key=True),
        _repo_fk(primary_key=True),
        _user_fk("added_by"),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    op.create_index("ix_use_case_models_repo", "use_case_models", ["repo_id"])


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
